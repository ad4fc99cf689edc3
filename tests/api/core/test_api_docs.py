"""/api/docs: Swagger UI from the API's own origin, under a strict CSP, nothing inline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from web.core.api_docs import swagger_ui_dist

ASSET = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]*)"')
TYPES = {".js": {"text/javascript", "application/javascript"}, ".css": {"text/css"}}


def policy_of(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def test_the_docs_page_loads_only_files_of_its_own_origin_under_a_strict_policy(
    client: FlaskClient,
) -> None:
    page = client.get("/api/docs")

    assert page.status_code == 200 and page.mimetype == "text/html"
    policy = policy_of(page.headers["Content-Security-Policy"])
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assets = ASSET.findall(page.text)
    assert len(assets) == 5  # icon, two stylesheets, two scripts
    for url in assets:
        assert url.startswith("/api/docs/") and "//" not in url, url
        served = client.get(url)
        assert served.status_code == 200, url
        assert served.mimetype in TYPES.get(Path(url).suffix, {"image/png"}), url
    assert 'data-spec-url="/api/openapi.json"' in page.text
    assert client.get("/api/openapi.json").json["info"]["title"] == "Backline API"


def test_the_docs_page_holds_no_inline_script_style_or_handler(client: FlaskClient) -> None:
    html = client.get("/api/docs").text

    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)
    assert len(scripts) == 2 and all(body.strip() == "" for body in scripts)
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_swagger_ui_is_the_installed_copy_and_nothing_else_of_its_folder_is_served(
    client: FlaskClient,
) -> None:
    bundle = client.get("/api/docs/swagger-ui/swagger-ui-bundle.js")

    assert bundle.data == (swagger_ui_dist() / "swagger-ui-bundle.js").read_bytes()
    assert "https://" not in client.get("/api/docs/static/api-docs.js").text


@pytest.mark.parametrize(
    "path", ["oauth2-redirect.html", "index.css", "VERSION", "..%2FVERSION", "%2Fetc%2Fpasswd"]
)
def test_other_files_are_not_served(client: FlaskClient, path: str) -> None:
    answer = client.get(f"/api/docs/swagger-ui/{path}")

    assert answer.status_code == 404
    assert answer.json is not None and answer.json["code"] == "not_found"
