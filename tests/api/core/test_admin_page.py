"""The dashboard page is served locked down: strict CSP, no framing, nothing inline."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

# The ways a script turns a string into markup; the dashboard uses none of them.
HTML_SINKS = re.compile(r"\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write|\beval\(")
STATIC = ("dashboard.js", "api.js", "dom.js", "charts.js", "overview.js", "jobs.js", "confirm.js")


def test_the_page_is_served_with_a_strict_content_security_policy(client: FlaskClient) -> None:
    response = client.get("/admin")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert 'data-env="test"' in response.text


def test_the_page_holds_no_inline_script_style_or_handler(client: FlaskClient) -> None:
    html = client.get("/admin/").text

    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)
    assert scripts and all(body.strip() == "" for body in scripts)
    assert re.findall(r"<script\b[^>]*>", html) == [
        '<script type="module" src="/admin/static/dashboard.js">'
    ]
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_the_scripts_are_served_from_the_app_as_javascript(client: FlaskClient) -> None:
    for name in STATIC:
        response = client.get(f"/admin/static/{name}")
        assert response.status_code == 200, name
        assert response.mimetype in ("text/javascript", "application/javascript"), name
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert not HTML_SINKS.search(response.text), name
        assert "http://" not in response.text.replace("http://www.w3.org/2000/svg", ""), name
        assert "https://" not in response.text, name
    assert client.get("/admin/static/dashboard.css").mimetype == "text/css"
