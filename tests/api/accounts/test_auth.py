"""Register, verify, login, refresh (with theft detection), logout, me, and bad tokens."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from models.accounts.users import User
from models.core.jobs import Job
from tests.api.conftest import Caller
from web.core.tokens import LEEWAY_S, key_id
from workers.core.setup import Platform

PASSWORD = "correct horse battery"


def register(client: FlaskClient, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/register", json={"email": email, "password": password})


def login(client: FlaskClient, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def mails_to(session: Session, email: str) -> list[Job]:
    jobs = session.scalars(select(Job).where(Job.kind == "email.send").order_by(Job.created_at))
    return [j for j in jobs if j.params["to"] == [email]]


def test_register_stores_the_user_and_queues_a_verification_mail(
    client: FlaskClient, session: Session
) -> None:
    response = register(client, "New.Person@Example.com")

    assert response.status_code == 202
    user = session.scalar(select(User).where(User.email == "new.person@example.com"))
    assert user is not None and user.email_verified_at is None
    assert user.password_hash.startswith("$argon2")
    [mail] = mails_to(session, "new.person@example.com")
    assert mail.owner_id == user.id
    assert "Confirm your e-mail" in mail.params["subject"]


def test_the_verification_token_verifies_once(client: FlaskClient, session: Session) -> None:
    register(client, "verify.me@example.com")
    [mail] = mails_to(session, "verify.me@example.com")
    token = re.search(r"Token: (\S+)", mail.params["text"]).group(1)  # type: ignore[union-attr]

    first = client.post("/api/v1/auth/verify-email", json={"token": token})
    second = client.post("/api/v1/auth/verify-email", json={"token": token})

    assert first.status_code == 200 and first.json["email_verified"] is True
    assert second.status_code == 422
    assert second.json["code"] == "validation_failed"


def test_registering_a_taken_address_looks_the_same_and_mails_its_owner(
    client: FlaskClient, session: Session
) -> None:
    first = register(client, "taken@example.com")
    second = register(client, "taken@example.com", "another long password")

    assert second.status_code == first.status_code == 202
    assert second.json == first.json
    assert (
        session.scalar(
            select(func.count()).select_from(User).where(User.email == "taken@example.com")
        )
        == 1
    )
    subjects = [m.params["subject"] for m in mails_to(session, "taken@example.com")]
    assert subjects == [
        "Confirm your e-mail address",
        "Someone tried to register with your address",
    ]


def test_short_passwords_and_bad_addresses_are_refused(
    client: FlaskClient, session: Session
) -> None:
    assert register(client, "short@example.com", "short").status_code == 422
    bad = register(client, "not an address")
    assert bad.status_code == 422 and "email" in bad.json["details"]["fields"]
    assert session.scalar(select(func.count()).select_from(User)) == 0


def test_login_answers_tokens_and_me_tells_who_they_belong_to(client: FlaskClient) -> None:
    register(client, "me@example.com")
    tokens = login(client, "ME@example.com").json

    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["expires_in"] == 900
    me = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json["email"] == "me@example.com"
    assert "password_hash" not in me.json


def test_wrong_password_and_unknown_user_get_the_same_answer(client: FlaskClient) -> None:
    register(client, "someone@example.com")
    wrong = login(client, "someone@example.com", "wrong password!!")
    unknown = login(client, "nobody@example.com")

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json["message"] == unknown.json["message"]


def test_refresh_rotates_and_a_replayed_refresh_token_revokes_the_family(
    client: FlaskClient, session: Session
) -> None:
    register(client, "rotate@example.com")
    first = login(client, "rotate@example.com").json["refresh_token"]

    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    # Past the grace window that lets two tabs share one refresh (test_two_tabs.py).
    session.execute(text("UPDATE refresh_tokens SET rotated_at = rotated_at - interval '1 minute'"))
    session.commit()
    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    after_theft = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second.json["refresh_token"]}
    )

    assert second.status_code == 200
    assert second.json["refresh_token"] != first
    assert replay.status_code == 401
    assert after_theft.status_code == 401


def test_logout_revokes_the_refresh_token(client: FlaskClient) -> None:
    register(client, "bye@example.com")
    tokens = login(client, "bye@example.com").json
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}

    out = client.post(
        "/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}, headers=headers
    )

    assert out.status_code == 204
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401


def _claims(caller: Caller, platform: Platform, **overrides: object) -> dict[str, object]:
    """Claims like those of the caller's own access token (same user, same live session)."""
    now = datetime.now(UTC)
    own = jwt.decode(caller.token, options={"verify_signature": False})
    claims: dict[str, object] = {
        "sub": own["sub"],
        "sid": own["sid"],
        "iss": platform.settings.jwt_issuer,
        "aud": platform.settings.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(overrides)
    return claims


def test_forged_expired_and_misaddressed_tokens_are_refused(
    client: FlaskClient, alice: Caller, tx_platform: Platform
) -> None:
    secret = tx_platform.settings.jwt_secret
    kid = {"kid": key_id(secret)}
    now = datetime.now(UTC)
    good = jwt.encode(_claims(alice, tx_platform), secret, algorithm="HS256", headers=kid)
    header, payload, signature = good.split(".")
    forged = {
        "alg none": jwt.encode(_claims(alice, tx_platform), None, algorithm="none", headers=kid),
        "expired": jwt.encode(
            _claims(alice, tx_platform, exp=now - timedelta(minutes=1)),
            secret,
            algorithm="HS256",
            headers=kid,
        ),
        "not yet valid": jwt.encode(
            _claims(alice, tx_platform, nbf=now + timedelta(minutes=5)),
            secret,
            algorithm="HS256",
            headers=kid,
        ),
        "wrong audience": jwt.encode(
            _claims(alice, tx_platform, aud="someone-else"), secret, algorithm="HS256", headers=kid
        ),
        "wrong key": jwt.encode(
            _claims(alice, tx_platform), "x" * 40, algorithm="HS256", headers=kid
        ),
        "tampered": f"{header}.{payload[:-2]}AA.{signature}",
        "garbage": "not.a.jwt",
    }
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {good}"}).status_code
        == 200
    )
    for name, token in forged.items():
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.json["code"] == "authentication_failed"


def test_a_token_checked_once_is_still_refused_once_it_expires(
    client: FlaskClient, alice: Caller, tx_platform: Platform
) -> None:
    """Signatures are checked once per token and remembered; expiry is checked every time."""
    secret = tx_platform.settings.jwt_secret
    leeway = timedelta(seconds=LEEWAY_S)
    # Past its exp, but within the clock-skew leeway for about a second more.
    exp = datetime.now(UTC).replace(microsecond=0) - leeway + timedelta(seconds=1)
    token = jwt.encode(
        _claims(alice, tx_platform, exp=exp, iat=exp - timedelta(minutes=5)),
        secret,
        algorithm="HS256",
        headers={"kid": key_id(secret)},
    )
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200

    time.sleep((exp + leeway - datetime.now(UTC)).total_seconds() + 1.1)

    again = client.get("/api/v1/auth/me", headers=headers)
    assert again.status_code == 401
    assert again.json["message"] == "access token expired"


def test_tokens_signed_with_the_previous_secret_work_during_rotation(
    tx_platform: Platform, alice: Caller
) -> None:
    from web import create_app

    old = tx_platform.settings.jwt_secret
    rotated = tx_platform.settings.replace(jwt_secret="n" * 40, jwt_previous_secret=old)
    platform = replace(tx_platform, settings=rotated)
    client = create_app(platform=platform).test_client()
    assert client.get("/api/v1/auth/me", headers=alice.headers).status_code == 200


def test_create_admin_command_makes_a_verified_admin(app: Flask, session: Session) -> None:
    result = app.test_cli_runner().invoke(
        args=["users", "create-admin", "ops@example.com", "--password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    user = session.scalar(select(User).where(User.email == "ops@example.com"))
    assert user is not None and user.is_admin and user.email_verified_at is not None
    again = app.test_cli_runner().invoke(
        args=["users", "create-admin", "ops@example.com", "--password", PASSWORD]
    )
    assert again.exit_code != 0
    assert "already exists" in again.output


def test_the_verification_mail_job_is_hidden_from_its_owner(
    client: FlaskClient, session: Session, admin: Caller
) -> None:
    register(client, "curious@example.com")
    [mail] = mails_to(session, "curious@example.com")
    access = login(client, "curious@example.com").json["access_token"]
    headers = {"Authorization": f"Bearer {access}"}

    listed = client.get("/api/v1/jobs", headers=headers).json["items"]
    direct = client.get(f"/api/v1/jobs/{mail.id}", headers=headers)

    assert mail.owner_id is not None and mail.internal
    assert listed == []  # the token inside must not be readable by whoever registered
    assert direct.status_code == 404
    # Nor by a platform admin: not through the jobs API, and through the ops API without its body.
    assert client.get(f"/api/v1/jobs/{mail.id}", headers=admin.headers).status_code == 404
    ops = client.get(f"/api/v1/admin/ops/jobs/{mail.id}", headers=admin.headers)
    assert ops.status_code == 200
    assert "Token:" not in str(ops.json) and ops.json["job"]["params"]["to"] == [
        mail.params["to"][0]
    ]


def test_development_with_the_public_secret_is_loudly_warned_about(
    tx_platform: Platform, capfd: pytest.CaptureFixture[str]
) -> None:
    from web import create_app

    development = replace(tx_platform, settings=tx_platform.settings.replace(env="development"))
    create_app(platform=development)
    assert "public development secret" in capfd.readouterr().err
