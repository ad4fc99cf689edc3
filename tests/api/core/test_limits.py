"""Rate limits over the real Redis: per IP, per e-mail, per user, shared between processes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from config import Settings
from tests.api.conftest import Caller, mails_to
from tests.conftest import access_token, make_user
from web import create_app
from web.core import errors, limits
from web.core.tokens import issue_access_token
from workers.core.setup import Platform

PASSWORD = "correct horse battery"


def register(client: FlaskClient, ip: str = "203.0.113.7", **headers: str) -> TestResponse:
    return client.post(
        "/api/v1/auth/register",
        json={"email": f"{uuid.uuid4().hex[:12]}@example.com", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": ip},
        headers=headers,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_rate_limited(response: TestResponse, limit: str, per: str) -> None:
    assert response.status_code == 429
    assert response.json is not None
    assert response.json["code"] == "rate_limited"
    assert response.json["details"]["limit"] == limit
    assert response.json["details"]["per"] == per
    assert response.json["request_id"]
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after == response.json["details"]["retry_after_s"]
    assert response.headers["RateLimit-Remaining"] == "0"


def test_the_eleventh_registration_from_one_ip_in_an_hour_is_refused(
    client: FlaskClient,
) -> None:
    answers = [register(client) for _ in range(10)]
    refused = register(client)

    assert [a.status_code for a in answers] == [202] * 10
    assert answers[0].headers["RateLimit-Limit"] == "10"
    assert answers[0].headers["RateLimit-Remaining"] == "9"
    assert 3590 <= int(answers[0].headers["RateLimit-Reset"]) <= 3600
    assert answers[0].headers["RateLimit-Policy"] == "10;w=3600"
    assert_rate_limited(refused, "10 per 1 hour", "ip")
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    assert register(client, ip="198.51.100.1").status_code == 202


def test_the_twenty_first_login_from_one_ip_in_a_minute_is_refused(client: FlaskClient) -> None:
    def login() -> TestResponse:
        # A new address each time: the per-account throttle must not be what answers.
        body = {"email": f"{uuid.uuid4().hex[:12]}@example.com", "password": PASSWORD}
        return client.post("/api/v1/auth/login", json=body)

    answers = [login() for _ in range(20)]
    refused = login()

    assert {a.status_code for a in answers} == {401}
    assert_rate_limited(refused, "20 per 1 minute", "ip")
    assert int(refused.headers["Retry-After"]) <= 60


def test_two_api_processes_share_one_counter(tx_platform: Platform) -> None:
    first = create_app(platform=tx_platform).test_client()
    second = create_app(platform=tx_platform).test_client()

    for i in range(10):
        assert register(first if i % 2 else second).status_code == 202

    assert_rate_limited(register(first), "10 per 1 hour", "ip")
    assert_rate_limited(register(second), "10 per 1 hour", "ip")


def test_every_authenticated_call_counts_against_its_user(
    tx_platform: Platform, alice: Caller, bob: Caller
) -> None:
    settings = tx_platform.settings.replace(rate_limit_per_user="3/minute")
    client = create_app(settings, platform=tx_platform).test_client()

    answers = [client.get("/api/v1/jobs", headers=alice.headers) for _ in range(3)]
    refused = client.get("/api/v1/auth/me", headers=alice.headers)  # any endpoint counts

    assert [a.status_code for a in answers] == [200] * 3
    assert answers[-1].headers["RateLimit-Remaining"] == "0"
    assert_rate_limited(refused, "3 per 1 minute", "user")
    assert client.get("/api/v1/auth/me", headers=bob.headers).status_code == 200


@pytest.mark.parametrize("dead", ["logged out", "forged"])
def test_a_token_without_a_live_session_cannot_keep_its_user_at_429(
    tx_platform: Platform, session: Session, alice: Caller, dead: str
) -> None:
    settings = tx_platform.settings.replace(rate_limit_per_user="5/minute")
    client = create_app(settings, platform=tx_platform).test_client()
    if dead == "logged out":
        token = access_token(tx_platform, session, alice.user)
        logout = client.post("/api/v1/auth/logout", json={}, headers=bearer(token))
        assert logout.status_code == 204  # still live then: it counts, once, against alice
    else:  # what anyone can sign with the public development secret
        token = issue_access_token(settings, alice.user.id, uuid.uuid4())
        client.get("/api/v1/auth/me", headers=alice.headers)  # to count the same as above

    hammering = [client.get("/api/v1/jobs", headers=bearer(token)) for _ in range(12)]
    live = [client.get("/api/v1/auth/me", headers=alice.headers) for _ in range(4)]
    refused = client.get("/api/v1/jobs", headers=alice.headers)

    assert [a.status_code for a in hammering] == [401] * 5 + [429] * 7
    assert_rate_limited(hammering[-1], "5 per 1 minute", "ip")  # the holder's own address
    assert [a.status_code for a in live] == [200] * 4
    assert [a.headers["RateLimit-Remaining"] for a in live] == ["3", "2", "1", "0"]
    assert_rate_limited(refused, "5 per 1 minute", "user")  # alice's own calls still count


def test_a_cookie_request_without_its_csrf_token_does_not_count_against_the_user(
    tx_platform: Platform, alice: Caller
) -> None:
    settings = tx_platform.settings.replace(rate_limit_per_user="3/minute")
    client = create_app(settings, platform=tx_platform).test_client()
    body = {"email": alice.user.email, "password": PASSWORD, "use_cookies": True}
    assert client.post("/api/v1/auth/login", json=body).status_code == 200

    # What another site can make alice's browser send: her cookie, not her CSRF token.
    forged = [client.post("/api/v1/jobs", json={"kind": "test.echo"}) for _ in range(5)]
    own = [client.get("/api/v1/auth/me", headers=alice.headers) for _ in range(3)]

    assert [a.status_code for a in forged] == [403] * 3 + [429] * 2
    assert_rate_limited(forged[-1], "3 per 1 minute", "ip")
    assert [a.status_code for a in own] == [200] * 3


def test_forwarded_for_is_ignored_unless_a_proxy_is_trusted(tx_platform: Platform) -> None:
    direct = create_app(platform=tx_platform).test_client()
    for i in range(10):
        assert register(direct, X_Forwarded_For=f"192.0.2.{i}").status_code == 202
    assert register(direct, X_Forwarded_For="192.0.2.99").status_code == 429

    settings = tx_platform.settings.replace(
        trusted_proxy_count=1, rate_limit_key_prefix=f"test-{uuid.uuid4().hex}"
    )
    proxied = create_app(settings, platform=tx_platform).test_client()
    for _ in range(10):
        assert register(proxied, X_Forwarded_For="192.0.2.1").status_code == 202
    assert register(proxied, X_Forwarded_For="192.0.2.1").status_code == 429
    assert register(proxied, X_Forwarded_For="192.0.2.2").status_code == 202


def test_without_redis_the_api_still_answers_and_limits_each_process(
    tx_platform: Platform,
) -> None:
    settings = tx_platform.settings.replace(rate_limit_storage_url="redis://127.0.0.1:1/0")
    client = create_app(settings, platform=tx_platform).test_client()

    answers = [register(client) for _ in range(10)]

    assert [a.status_code for a in answers] == [202] * 10
    assert_rate_limited(register(client), "10 per 1 hour", "ip")


def test_rate_limits_can_be_switched_off(tx_platform: Platform) -> None:
    settings = tx_platform.settings.replace(rate_limits_enabled=False)
    client = create_app(settings, platform=tx_platform).test_client()

    answers = [register(client) for _ in range(11)]

    assert [a.status_code for a in answers] == [202] * 11
    assert "RateLimit-Limit" not in answers[-1].headers


# -- the per-e-mail limit, on a route of its own, applied as a new endpoint would apply it ----
probe = Blueprint("probe", __name__, url_prefix="/probe")


class ProbeRequest(Schema):
    email = fields.Email(required=True)


@probe.route("/reset")
class Reset(MethodView):
    @limits.per_email("rate_limit_password_reset")
    @probe.arguments(ProbeRequest)
    @probe.response(202)
    def post(self, body: dict[str, Any]) -> None:
        """A stand-in for "request a password reset\""""


@probe.route("/count/<key>")
class Count(MethodView):
    @probe.response(200)
    def post(self, key: str) -> dict[str, bool]:
        """A stand-in for a view counting something other than its caller (an artist's page)"""
        return {"allowed": limits.allows("rate_limit_password_reset", key)}


def probe_app(settings: Settings) -> Flask:
    app = Flask(__name__)
    app.config.update(API_TITLE="probe", API_VERSION="v1", OPENAPI_VERSION="3.0.3")
    errors.init_app(app)
    errors.BacklineApi(app).register_blueprint(probe)
    limits.init_app(app, settings)
    return app


def test_the_per_email_limit_counts_an_address_however_it_is_written(
    tx_platform: Platform,
) -> None:
    client = probe_app(tx_platform.settings).test_client()
    # The last is refused by validation, but still counts: the limit is checked first.
    variants = ["Reset@Example.com", "reset@example.com", "RESET@EXAMPLE.COM", "reSet@example.COM"]
    variants.append("  reset@example.com ")

    def ask(email: str, ip: str) -> TestResponse:
        return client.post("/probe/reset", json={"email": email}, environ_base={"REMOTE_ADDR": ip})

    answers = [ask(email, f"192.0.2.{i}") for i, email in enumerate(variants)]
    refused = ask("reset@EXAMPLE.com", "192.0.2.200")

    assert [a.status_code for a in answers] == [202, 202, 202, 202, 422]
    assert_rate_limited(refused, "5 per 1 hour", "email")
    assert ask("someone.else@example.com", "192.0.2.200").status_code == 202


def test_odd_bodies_do_not_knock_the_limiter_off_the_shared_counters(
    tx_platform: Platform,
) -> None:
    first = probe_app(tx_platform.settings).test_client()
    second = probe_app(tx_platform.settings).test_client()
    for body in ({"email": "\u200breset@example.com"}, {"email": 5}, ["reset@example.com"]):
        assert first.post("/probe/reset", json=body).status_code == 422

    answers = [
        (first if i % 2 else second).post("/probe/reset", json={"email": "reset@example.com"})
        for i in range(5)
    ]

    assert [a.status_code for a in answers] == [202] * 5
    refused = first.post("/probe/reset", json={"email": "reset@example.com"})
    assert_rate_limited(refused, "5 per 1 hour", "email")


def test_a_count_by_any_key_is_shared_between_processes_and_kept_apart_per_key(
    tx_platform: Platform,
) -> None:
    first = probe_app(tx_platform.settings).test_client()
    second = probe_app(tx_platform.settings).test_client()

    def allowed(client: FlaskClient, key: str) -> bool:
        answer = client.post(f"/probe/count/{key}", environ_base={"REMOTE_ADDR": "192.0.2.9"})
        assert answer.json is not None
        return bool(answer.json["allowed"])

    answers = [allowed(first if i % 2 else second, "artist-a") for i in range(6)]

    assert answers == [True] * 5 + [False]
    assert allowed(first, "artist-b")
    with (
        first.application.test_request_context(),
        pytest.raises(ValueError, match="not a rate limit setting"),
    ):
        limits.allows("port", "artist-a")


@pytest.mark.parametrize(
    ("endpoint", "allowed"), [("request-password-reset", 5), ("resend-verification", 10)]
)
def test_account_mails_to_one_address_are_capped_silently(
    client: FlaskClient, session: Session, endpoint: str, allowed: int
) -> None:
    user = make_user(session, email="target@example.com", verified=False)
    session.commit()

    def ask(ip: str) -> TestResponse:
        return client.post(
            f"/api/v1/auth/{endpoint}",
            json={"email": "Target@Example.com"},
            environ_base={"REMOTE_ADDR": ip},
        )

    answers = [ask(f"198.51.100.{i}") for i in range(allowed + 3)]  # from many IPs

    assert [a.status_code for a in answers] == [202] * (allowed + 3)
    assert len({str(a.json) for a in answers}) == 1
    assert len(mails_to(session, user.email)) == allowed


@pytest.mark.parametrize("endpoint", ["request-password-reset", "resend-verification"])
def test_account_mail_requests_are_limited_per_ip(tx_platform: Platform, endpoint: str) -> None:
    settings = tx_platform.settings.replace(rate_limit_account_mail="3/hour")
    client = create_app(settings, platform=tx_platform).test_client()

    def ask(n: int, ip: str = "203.0.113.9") -> TestResponse:
        return client.post(
            f"/api/v1/auth/{endpoint}",
            json={"email": f"someone{n}@example.com"},
            environ_base={"REMOTE_ADDR": ip},
        )

    answers = [ask(n) for n in range(3)]  # a different address each time

    assert [a.status_code for a in answers] == [202] * 3
    assert_rate_limited(ask(3), "3 per 1 hour", "ip")
    assert ask(4, ip="198.51.100.7").status_code == 202


def test_cookie_sessions_count_against_their_user_too(tx_platform: Platform, alice: Caller) -> None:
    settings = tx_platform.settings.replace(rate_limit_per_user="3/minute")
    client = create_app(settings, platform=tx_platform).test_client()
    body = {"email": alice.user.email, "password": PASSWORD, "use_cookies": True}
    assert client.post("/api/v1/auth/login", json=body).status_code == 200

    answers = [client.get("/api/v1/auth/me") for _ in range(2)]
    by_header = client.get("/api/v1/auth/me", headers=alice.headers)  # the same user
    refused = client.get("/api/v1/jobs")

    assert [a.status_code for a in answers] == [200] * 2
    assert answers[0].headers["RateLimit-Limit"] == "3"
    assert by_header.status_code == 200
    assert_rate_limited(refused, "3 per 1 minute", "user")
