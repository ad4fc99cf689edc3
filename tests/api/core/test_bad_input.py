"""Input that no column can hold, or no parser should try: each is a 4xx in the one shape.

A lone UTF-16 surrogate (not Unicode text, so not encodable to UTF-8), a NUL character
(PostgreSQL's text and jsonb refuse it), an integer past a bigint, a body nested past the
parser's depth, and bodies framed without a Content-Length (chunked) — a caller with or
without a token gets a clear answer, never a 500.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from tests.api.conftest import PASSWORD, Caller, a_job, email_job
from tests.conftest import org_of
from workers.core.setup import Platform

SHAPE = {"code", "message", "details", "request_id"}
LONE_SURROGATE = "\\ud800"  # as a JSON escape: json.loads makes it the str '\ud800'
BEYOND_BIGINT = str(2**63)


def raw_json(
    client: FlaskClient, method: str, path: str, body: str, headers: dict[str, str] | None = None
) -> Any:
    """Send `body` exactly as written (a JSON text with escapes no encoder would produce)."""
    return client.open(
        path,
        method=method,
        data=body.encode(),
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def chunked(
    client: FlaskClient, path: str, body: bytes, headers: dict[str, str] | None = None
) -> Any:
    """POST `body` as a server hands over a chunked request: no Content-Length, and the
    stream ends where the body does (gunicorn sets wsgi.input_terminated)."""
    environ = EnvironBuilder(
        path=path,
        method="POST",
        input_stream=io.BytesIO(body),
        headers={**(headers or {}), "Transfer-Encoding": "chunked"},
        content_type="application/json",
    ).get_environ()
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    return client.open(Request(environ))


def assert_refused(response: Any, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert set(response.json) == SHAPE
    assert response.json["request_id"] == response.headers["X-Request-ID"]
    if field is not None:
        assert field in response.json["details"]["fields"], response.json


# -- lone surrogates -------------------------------------------------------------------------
def test_a_lone_surrogate_is_refused_without_a_token(client: FlaskClient) -> None:
    refresh = raw_json(
        client, "POST", "/api/v1/auth/refresh", f'{{"refresh_token": "{LONE_SURROGATE}"}}'
    )
    login = raw_json(
        client,
        "POST",
        "/api/v1/auth/login",
        f'{{"email": "a@example.com", "password": "x{LONE_SURROGATE}"}}',
    )
    accept = raw_json(
        client, "POST", "/api/v1/invitations/accept", f'{{"token": "{LONE_SURROGATE}"}}'
    )

    assert_refused(refresh, 422, "refresh_token")
    assert_refused(login, 422, "password")
    assert accept.status_code in (401, 422) and set(accept.json) == SHAPE


def test_a_lone_surrogate_is_refused_from_a_member(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    org_id = org_of(session, alice.user.id)
    profile = raw_json(
        client,
        "PATCH",
        "/api/v1/auth/me",
        f'{{"display_name": "Al{LONE_SURROGATE}ice"}}',
        alice.headers,
    )
    new_org = raw_json(
        client, "POST", "/api/v1/orgs", f'{{"name": "Org {LONE_SURROGATE}"}}', alice.headers
    )
    renamed = raw_json(
        client,
        "PATCH",
        f"/api/v1/orgs/{org_id}",
        f'{{"name": "Org {LONE_SURROGATE}"}}',
        alice.headers,
    )
    accept = raw_json(
        client,
        "POST",
        "/api/v1/invitations/accept",
        f'{{"token": "{LONE_SURROGATE}"}}',
        alice.headers,
    )
    password = raw_json(
        client,
        "POST",
        "/api/v1/auth/change-password",
        f'{{"current_password": "{PASSWORD}", "new_password": "long enough {LONE_SURROGATE}"}}',
        alice.headers,
    )
    job = raw_json(
        client,
        "POST",
        "/api/v1/jobs",
        f'{{"kind": "test.pages", "params": {{"pages": 1, "fail_at": 9, "{LONE_SURROGATE}": 1}}}}',
        alice.headers,
    )

    assert_refused(profile, 422, "display_name")
    assert_refused(new_org, 422, "name")
    assert_refused(renamed, 422, "name")
    assert_refused(accept, 422, "token")
    assert_refused(password, 422, "new_password")
    assert_refused(job, 422, "params")
    assert client.get("/api/v1/auth/me", headers=alice.headers).json["display_name"] is None


def test_a_lone_surrogate_is_refused_from_an_admin(client: FlaskClient, admin: Caller) -> None:
    pause = raw_json(
        client,
        "POST",
        "/api/v1/admin/ops/queues/default/pause",
        f'{{"confirm": true, "reason": "deploy {LONE_SURROGATE}"}}',
        admin.headers,
    )
    mail = raw_json(
        client,
        "POST",
        "/api/v1/jobs",
        '{"kind": "email.send", "params": {"to": ["fan@example.com"], '
        f'"subject": "Hi", "text": "Hello {LONE_SURROGATE}"}}}}',
        admin.headers,
    )

    assert_refused(pause, 422, "reason")
    assert_refused(mail, 422, "params")
    queues = client.get("/api/v1/admin/ops/queues", headers=admin.headers).json
    assert not next(q for q in queues if q["name"] == "default")["paused"]


# -- NUL -------------------------------------------------------------------------------------
def test_a_nul_in_a_query_string_is_refused(client: FlaskClient, alice: Caller) -> None:
    assert_refused(client.get("/api/v1/jobs?kind=%00", headers=alice.headers), 422, "kind")
    assert_refused(client.get("/api/v1/jobs?cursor=a%00", headers=alice.headers), 422, "cursor")


def test_a_nul_in_an_admin_search_is_refused(client: FlaskClient, admin: Caller) -> None:
    for path in (
        "/api/v1/admin/users?q=%00",
        "/api/v1/admin/orgs?q=a%00b",
        "/api/v1/admin/ops/jobs?kind=%00",
        "/api/v1/admin/ops/jobs?queue=%00",
        "/api/v1/admin/ops/jobs?worker_id=%00",
    ):
        response = client.get(path, headers=admin.headers)
        assert_refused(response, 422)


def test_a_nul_in_a_body_is_refused(client: FlaskClient, admin: Caller) -> None:
    mail = client.post(
        "/api/v1/jobs",
        json=email_job(params={"to": ["fan@example.com"], "subject": "Hi", "text": "a\x00b"}),
        headers=admin.headers,
    )
    redrive = client.post(
        "/api/v1/admin/ops/dead-letter/redrive",
        json={"confirm": True, "kind": "email.send\x00"},
        headers=admin.headers,
    )
    pause = client.post(
        "/api/v1/admin/ops/queues/default/pause",
        json={"confirm": True, "reason": "\x00"},
        headers=admin.headers,
    )
    job_key = client.post(
        "/api/v1/jobs",
        json={"kind": "test.pages", "params": {"pages": 1, "fail_at": 9, "a\x00": 1}},
        headers=admin.headers,
    )

    assert_refused(mail, 422, "params")
    assert_refused(redrive, 422, "kind")
    assert_refused(pause, 422, "reason")
    assert_refused(job_key, 422, "params")


def test_a_nul_in_a_path_is_not_found(client: FlaskClient, admin: Caller) -> None:
    pause = client.post(
        "/api/v1/admin/ops/queues/de%00fault/pause", json={"confirm": True}, headers=admin.headers
    )

    assert pause.status_code in (404, 422) and set(pause.json) == SHAPE


# -- integers beyond a bigint ----------------------------------------------------------------
@pytest.mark.parametrize("after", [BEYOND_BIGINT, "-" + BEYOND_BIGINT + "1", "1" + "0" * 5000])
def test_an_event_cursor_beyond_a_bigint_is_refused(
    client: FlaskClient, alice: Caller, after: str
) -> None:
    job_id = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).json["id"]

    response = client.get(f"/api/v1/jobs/{job_id}/events?after={after}", headers=alice.headers)

    assert_refused(response, 422, "after")


def test_an_audit_cursor_beyond_a_bigint_is_refused(client: FlaskClient, admin: Caller) -> None:
    response = client.get(f"/api/v1/admin/ops/audit?cursor={BEYOND_BIGINT}", headers=admin.headers)

    assert_refused(response, 422, "cursor")


def test_the_largest_bigint_is_a_valid_cursor(client: FlaskClient, admin: Caller) -> None:
    response = client.get(f"/api/v1/admin/ops/audit?cursor={2**63 - 1}", headers=admin.headers)

    assert response.status_code == 200


# -- the body: depth, non-JSON numbers, framing ------------------------------------------------
def test_a_body_nested_past_the_limit_is_bad_json(client: FlaskClient, alice: Caller) -> None:
    deep = '{"kind": "test.pages", "params": {"pages": ' + "[" * 100 + "]" * 100 + "}}"

    response = raw_json(client, "POST", "/api/v1/jobs", deep, alice.headers)

    assert_refused(response, 400)
    assert "deep" in response.json["message"]


def test_nan_and_infinity_are_not_json(client: FlaskClient, alice: Caller) -> None:
    for number in ("NaN", "Infinity", "-Infinity", "1e999"):
        body = f'{{"kind": "test.pages", "params": {{"pages": 1, "fail_at": {number}}}}}'
        assert_refused(raw_json(client, "POST", "/api/v1/jobs", body, alice.headers), 400)


def test_a_chunked_body_is_read_and_parsed_like_any_other(client: FlaskClient) -> None:
    body = b'{"email": "nobody@example.com", "password": "wrong password"}'

    response = chunked(client, "/api/v1/auth/login", body)

    assert_refused(response, 401)


def test_a_chunked_body_nested_too_deeply_is_bad_json_without_a_token(
    client: FlaskClient,
) -> None:
    depth = 50_000
    body = b'{"email": "a@example.com", "password": ' + b"[" * depth + b"]" * depth + b"}"

    response = chunked(client, "/api/v1/auth/login", body)

    assert_refused(response, 400)


def test_a_chunked_body_past_the_cap_is_too_large(
    client: FlaskClient, tx_platform: Platform
) -> None:
    cap = tx_platform.settings.max_request_bytes
    over = b'{"email": "a@example.com", "password": "' + b"x" * cap + b'"}'
    just_under = b'{"email": "a@example.com", "password": "' + b"x" * (cap - 100) + b'"}'

    assert_refused(chunked(client, "/api/v1/auth/login", over), 413)
    assert chunked(client, "/api/v1/auth/login", just_under).status_code == 422  # too long


def test_a_chunked_body_that_is_not_json_is_unsupported(client: FlaskClient, alice: Caller) -> None:
    environ = EnvironBuilder(
        path="/api/v1/jobs",
        method="POST",
        input_stream=io.BytesIO(b"kind=x"),
        headers={**alice.headers, "Transfer-Encoding": "chunked"},
        content_type="application/x-www-form-urlencoded",
    ).get_environ()
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True

    assert_refused(client.open(Request(environ)), 415)
