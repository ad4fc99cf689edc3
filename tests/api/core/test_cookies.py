"""Browser sessions: HttpOnly cookies, the session-bound CSRF token, and CORS."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.core.jobs import Job
from tests.api.conftest import PASSWORD, Caller, a_job, post
from web import create_app
from web.core.cookies import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from workers.core.setup import Platform

ORIGIN = "https://app.example.com"


def cookie_login(client: FlaskClient, email: str) -> Any:
    return post(client, "login", {"email": email, "password": PASSWORD, "use_cookies": True})


def set_cookies(response: Any) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    headers = response.headers.getlist("Set-Cookie")
    return {h.split("=", 1)[0]: h for h in headers}


def jobs_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Job)) or 0


@pytest.fixture()
def browser(client: FlaskClient, alice: Caller) -> tuple[FlaskClient, str]:
    """Alice logged in with cookies: the client holds them; answers her CSRF token."""
    response = cookie_login(client, alice.user.email)
    assert response.status_code == 200
    return client, response.json["csrf_token"]


def test_a_cookie_login_sets_httponly_secure_cookies_and_keeps_tokens_out_of_the_body(
    client: FlaskClient, alice: Caller
) -> None:
    response = cookie_login(client, alice.user.email)

    assert response.status_code == 200
    assert set(response.json) == {"token_type", "csrf_token", "expires_in"}
    assert response.json["token_type"] == "cookie"
    cookies = set_cookies(response)
    access, refresh, csrf = cookies[ACCESS_COOKIE], cookies[REFRESH_COOKIE], cookies[CSRF_COOKIE]
    for header in (access, refresh, csrf):
        assert "Secure" in header and "SameSite=Lax" in header
    assert "HttpOnly" in access and "Path=/api;" in access
    assert "HttpOnly" in refresh and "Path=/api/v1/auth;" in refresh
    assert "HttpOnly" not in csrf  # the page reads it
    assert f"{CSRF_COOKIE}={response.json['csrf_token']};" in csrf


def test_cookies_can_be_sent_without_secure_in_development(
    tx_platform: Platform, alice: Caller
) -> None:
    plain = replace(tx_platform, settings=tx_platform.settings.replace(cookie_secure=False))
    response = cookie_login(create_app(platform=plain).test_client(), alice.user.email)
    assert all("Secure" not in h for h in set_cookies(response).values())


def test_reads_work_with_the_cookie_alone(browser: tuple[FlaskClient, str]) -> None:
    client, _ = browser
    assert client.get("/api/v1/auth/me").status_code == 200


def test_a_cookie_authenticated_write_needs_the_sessions_csrf_token(
    browser: tuple[FlaskClient, str], session: Session, bob: Caller
) -> None:
    client, csrf = browser
    bob_csrf = cookie_login(create_app_client(client), bob.user.email).json["csrf_token"]

    missing = client.post("/api/v1/jobs", json=a_job())
    wrong = client.post("/api/v1/jobs", json=a_job(), headers={"X-CSRF-Token": "0" * 64})
    others = client.post("/api/v1/jobs", json=a_job(), headers={"X-CSRF-Token": bob_csrf})
    renamed = client.patch(
        "/api/v1/auth/me", json={"display_name": "Mallory"}, headers={"X-CSRF-Token": bob_csrf}
    )

    for response in (missing, wrong, others, renamed):
        assert response.status_code == 403
        assert response.json["code"] == "csrf_failed"
    assert jobs_count(session) == 0
    assert client.get("/api/v1/auth/me").json["display_name"] is None

    ok = client.post("/api/v1/jobs", json=a_job(), headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 202
    assert jobs_count(session) == 1


def create_app_client(client: FlaskClient) -> FlaskClient:
    """A second browser on the same app (its own cookie jar)."""
    return client.application.test_client()


def test_the_authorization_header_wins_over_the_cookie_and_needs_no_csrf(
    browser: tuple[FlaskClient, str], bob: Caller
) -> None:
    client, _ = browser
    response = client.post("/api/v1/jobs", json=a_job(), headers=bob.headers)
    me = client.get("/api/v1/auth/me", headers=bob.headers)
    assert response.status_code == 202
    assert me.json["email"] == bob.user.email


def test_refresh_by_cookie_needs_the_csrf_token_and_rotates_the_cookies(
    browser: tuple[FlaskClient, str],
) -> None:
    client, csrf = browser
    before = client.get_cookie(REFRESH_COOKIE, path="/api/v1/auth")
    assert before is not None

    forged = client.post("/api/v1/auth/refresh", json={})
    assert forged.status_code == 403 and forged.json["code"] == "csrf_failed"
    assert client.get_cookie(REFRESH_COOKIE, path="/api/v1/auth").value == before.value

    refreshed = client.post("/api/v1/auth/refresh", json={}, headers={"X-CSRF-Token": csrf})

    assert refreshed.status_code == 200
    assert "refresh_token" not in refreshed.json and "access_token" not in refreshed.json
    assert refreshed.json["csrf_token"] == csrf  # same login session, same CSRF token
    after = client.get_cookie(REFRESH_COOKIE, path="/api/v1/auth")
    assert after is not None and after.value != before.value
    assert client.get("/api/v1/auth/me").status_code == 200


def test_logout_by_cookie_ends_the_session_and_clears_the_cookies(
    browser: tuple[FlaskClient, str],
) -> None:
    client, csrf = browser
    access = client.get_cookie(ACCESS_COOKIE, path="/api")
    assert access is not None

    forged = client.post("/api/v1/auth/logout", json={})
    out = client.post("/api/v1/auth/logout", json={}, headers={"X-CSRF-Token": csrf})

    assert forged.status_code == 403
    assert out.status_code == 204
    assert client.get_cookie(ACCESS_COOKIE, path="/api") is None
    assert client.get_cookie(REFRESH_COOKIE, path="/api/v1/auth") is None
    stolen = {"Authorization": f"Bearer {access.value}"}
    assert client.get("/api/v1/auth/me", headers=stolen).status_code == 401


# -- CORS ------------------------------------------------------------------------------------
def cors_client(tx_platform: Platform, origins: tuple[str, ...]) -> FlaskClient:
    settings = tx_platform.settings.replace(cors_origins=origins)
    return create_app(platform=replace(tx_platform, settings=settings)).test_client()


def test_cors_answers_listed_origins_only_with_credentials_and_exposed_headers(
    tx_platform: Platform, alice: Caller
) -> None:
    client = cors_client(tx_platform, (ORIGIN,))

    listed = client.get("/api/v1/jobs", headers=alice.with_headers(Origin=ORIGIN))
    unlisted = client.get(
        "/api/v1/jobs", headers=alice.with_headers(Origin="https://evil.example.net")
    )
    preflight = client.options(
        "/api/v1/jobs",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-csrf-token",
        },
    )

    assert listed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert listed.headers["Access-Control-Allow-Credentials"] == "true"
    exposed = {h.strip() for h in listed.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"X-Request-ID", "ETag", "Retry-After", "Location", "RateLimit-Remaining"} <= exposed
    assert "Access-Control-Allow-Origin" not in unlisted.headers
    assert "Access-Control-Allow-Credentials" not in unlisted.headers
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "x-csrf-token" in preflight.headers["Access-Control-Allow-Headers"].lower()


def test_without_cors_origins_no_cors_header_is_sent(client: FlaskClient, alice: Caller) -> None:
    response = client.get("/api/v1/jobs", headers=alice.with_headers(Origin=ORIGIN))
    assert response.status_code == 200
    assert not [name for name, _ in response.headers if name.startswith("Access-Control-")]


def test_the_openapi_document_describes_cookie_auth(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").json
    scheme = spec["components"]["securitySchemes"]["cookieAuth"]
    assert scheme == {**scheme, "type": "apiKey", "in": "cookie", "name": ACCESS_COOKIE}
    assert {"cookieAuth": []} in spec["paths"]["/api/v1/jobs"]["post"]["security"]
    assert "patch" in spec["paths"]["/api/v1/auth/me"]
    login = spec["paths"]["/api/v1/auth/login"]["post"]["requestBody"]["content"]
    schema_name = login["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert spec["components"]["schemas"][schema_name]["properties"]["email"]["format"] == "email"
