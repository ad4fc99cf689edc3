"""Attacks on accounts and tokens: each must be refused, and must change nothing.

Forged and misaddressed JWTs, refresh-token theft, user enumeration (answers and timing),
look-alike addresses, and bodies that are too big, malformed or not JSON.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from models.accounts import users as accounts
from models.accounts.users import AuthSession, User
from tests.api.conftest import PASSWORD, Caller, post
from web.core.tokens import key_id
from workers.core.setup import Platform

# Any RSA public key: what a server expecting RS256 would verify with, and so what an attacker
# would use as the HMAC secret in an RS/HS confusion attack.
PUBLIC_KEY = b"""-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAvd0j5JoGpdarDAZ/Dqas
WjRb1O07BdCT+kiTBiIJbzaJg5NHvUvM7p3fJPNIeBO3G5u5BfUMBT4GTrr+QGx1
P0OtASkuf2/iZ55usocbziOZMQsc38aiVza9eCi1X1bRXI8bApTnlmuV4SUBn3c5
8pxAqkJ7g3x4Aa3CqcIkOfaJsXT5lTbotbeys2eYxA0FfC2PiZqnmLcq5iusA3rh
psDPX2Wo00BjVPWrZMgXqz3IQUz1aHDNcFU4eXqTQkkt/ucW+MNUlPomwhZ3PmNo
gBqE4Pill1hCOC7yIL7GYzS16iyITM9LHoXyjpSrg3vnvXTdoPlxuO8xbpo0kbj3
yQIDAQAB
-----END PUBLIC KEY-----
"""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """A JWT signed with HMAC-SHA256 whatever its header says (PyJWT refuses to forge these)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def claims_of(caller: Caller, platform: Platform, **overrides: Any) -> dict[str, Any]:
    """Claims like those of the caller's own token (same user, same live session)."""
    now = int(time.time())
    own = jwt.decode(caller.token, options={"verify_signature": False})
    claims: dict[str, Any] = {
        "sub": own["sub"],
        "sid": own["sid"],
        "iss": platform.settings.jwt_issuer,
        "aud": platform.settings.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


Forge = Callable[[Caller, Caller, Platform], str]


def _hs256(caller: Caller, platform: Platform, **overrides: Any) -> str:
    secret = platform.settings.jwt_secret
    return jwt.encode(
        claims_of(caller, platform, **overrides),
        secret,
        algorithm="HS256",
        headers={"kid": key_id(secret)},
    )


def _tampered(alice: Caller, bob: Caller, platform: Platform) -> str:
    """Alice's valid token with Bob's id put in the payload."""
    header, _, signature = _hs256(alice, platform).split(".")
    payload = claims_of(alice, platform, sub=str(bob.user.id))
    return f"{header}.{b64(json.dumps(payload).encode())}.{signature}"


FORGERIES: dict[str, Forge] = {
    "alg none": lambda a, b, p: jwt.encode(
        claims_of(a, p), None, algorithm="none", headers={"kid": key_id(p.settings.jwt_secret)}
    ),
    "RS256 header signed with the HMAC secret": lambda a, b, p: hand_signed(
        {"alg": "RS256", "typ": "JWT", "kid": key_id(p.settings.jwt_secret)},
        claims_of(a, p),
        p.settings.jwt_secret.encode(),
    ),
    "HS256 signed with a public key as the secret": lambda a, b, p: hand_signed(
        {"alg": "HS256", "typ": "JWT", "kid": key_id(p.settings.jwt_secret)},
        claims_of(a, p),
        PUBLIC_KEY,
    ),
    "public key as secret under its own kid": lambda a, b, p: hand_signed(
        {"alg": "HS256", "typ": "JWT", "kid": key_id(PUBLIC_KEY.decode())},
        claims_of(a, p),
        PUBLIC_KEY,
    ),
    "expired": lambda a, b, p: _hs256(a, p, exp=int(time.time()) - 60),
    "not yet valid": lambda a, b, p: _hs256(a, p, nbf=int(time.time()) + 300),
    "wrong audience": lambda a, b, p: _hs256(a, p, aud="another-api"),
    "wrong issuer": lambda a, b, p: _hs256(a, p, iss="someone-else"),
    "missing sid": lambda a, b, p: _hs256(a, p, sid=None),
    "sid of another user's session": lambda a, b, p: _hs256(
        a, p, sid=jwt.decode(b.token, options={"verify_signature": False})["sid"]
    ),
    "unknown kid": lambda a, b, p: jwt.encode(
        claims_of(a, p), p.settings.jwt_secret, algorithm="HS256", headers={"kid": "f" * 12}
    ),
    "tampered payload": _tampered,
}


@pytest.mark.parametrize("name", FORGERIES)
def test_forged_and_misaddressed_tokens_are_refused_and_change_nothing(
    name: str, client: FlaskClient, alice: Caller, bob: Caller, tx_platform: Platform
) -> None:
    token = FORGERIES[name](alice, bob, tx_platform)
    headers = {"Authorization": f"Bearer {token}"}

    response = client.patch("/api/v1/auth/me", json={"display_name": "pwned"}, headers=headers)

    assert response.status_code == 401, name
    assert response.json["code"] == "authentication_failed"
    for caller in (alice, bob):
        me = client.get("/api/v1/auth/me", headers=caller.headers).json
        assert me["display_name"] is None


def test_the_genuine_token_passes_the_same_checks(
    client: FlaskClient, alice: Caller, tx_platform: Platform
) -> None:
    """The forgeries above fail for their flaw alone: the same claims, honestly signed, work."""
    headers = {"Authorization": f"Bearer {_hs256(alice, tx_platform)}"}
    response = client.patch("/api/v1/auth/me", json={"display_name": "Alice"}, headers=headers)
    assert response.status_code == 200 and response.json["display_name"] == "Alice"


# -- refresh-token theft ---------------------------------------------------------------------
def test_a_replayed_refresh_token_revokes_the_session_and_its_access_tokens_at_once(
    client: FlaskClient, session: Session, alice: Caller
) -> None:
    tokens = post(client, "login", {"email": alice.user.email, "password": PASSWORD}).json
    rotated = post(client, "refresh", {"refresh_token": tokens["refresh_token"]}).json
    current = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=current).status_code == 200
    # An hour on: well past the grace window that lets a second browser tab refresh with the
    # same token (REFRESH_REUSE_GRACE_S, seconds).
    session.execute(text("UPDATE refresh_tokens SET rotated_at = rotated_at - interval '1 hour'"))
    session.commit()

    replay = post(client, "refresh", {"refresh_token": tokens["refresh_token"]})

    assert replay.status_code == 401
    assert client.get("/api/v1/auth/me", headers=current).status_code == 401
    first = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=first).status_code == 401
    assert post(client, "refresh", {"refresh_token": rotated["refresh_token"]}).status_code == 401
    sid = uuid.UUID(jwt.decode(rotated["access_token"], options={"verify_signature": False})["sid"])
    assert session.get_one(AuthSession, sid, populate_existing=True).revoked_at is not None
    # Alice's other sessions are not the thief's: they go on.
    assert client.get("/api/v1/auth/me", headers=alice.headers).status_code == 200


# -- user enumeration ------------------------------------------------------------------------
def answer(response: Any) -> str:
    """Status and body, less the request id that differs on every response."""
    body = dict(response.json)
    body.pop("request_id", None)
    return json.dumps([response.status_code, body], sort_keys=True)


def test_answers_are_the_same_for_existing_and_unknown_addresses(
    client: FlaskClient, session: Session, alice: Caller
) -> None:
    post(client, "register", {"email": "pending@example.com", "password": PASSWORD})
    addresses = (alice.user.email, "pending@example.com", "ghost@example.com")
    bodies: dict[str, Callable[[str], dict[str, Any]]] = {
        "register": lambda e: {"email": e, "password": "another long password"},
        "login": lambda e: {"email": e, "password": "a wrong password"},
        "resend-verification": lambda e: {"email": e},
        "request-password-reset": lambda e: {"email": e},
    }
    for endpoint, body in bodies.items():
        answers = {answer(post(client, endpoint, body(e))) for e in addresses}
        assert len(answers) == 1, (endpoint, answers)


def test_a_login_for_an_unknown_address_does_the_same_password_work(
    client: FlaskClient, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str] = []
    real_verify = accounts.PASSWORDS.verify

    def counting_verify(secret: str, hash: str, **kwargs: Any) -> bool:
        verified.append(hash[:9])
        return real_verify(secret, hash, **kwargs)

    monkeypatch.setattr(accounts.PASSWORDS, "verify", counting_verify)
    post(client, "login", {"email": alice.user.email, "password": "a wrong password"})
    post(client, "login", {"email": "ghost@example.com", "password": "a wrong password"})
    # One argon2id verification each, so both paths cost the same (no timed test: the work
    # is counted, which holds on a noisy machine).
    assert verified == ["$argon2id", "$argon2id"]


# -- look-alike addresses --------------------------------------------------------------------
LOOKALIKES = {
    "fullwidth": "ａｌｉｃｅ@example.com",
    "fullwidth domain": "alice@ｅｘａｍｐｌｅ.com",
    "Cyrillic a": "\u0430lice@example.com",
    "Cyrillic a in the domain": "alice@ex\u0430mple.com",
    "zero-width space": "ali\u200bce@example.com",
    "zero-width joiner": "alice\u200d@example.com",
    "right-to-left override": "\u202emoc.elpmaxe@ecila",
    "bidi override inside": "alice@exam\u202eple.com",
}


@pytest.mark.parametrize("name", LOOKALIKES)
def test_a_look_alike_of_an_account_can_neither_register_nor_log_in(
    name: str, client: FlaskClient, session: Session
) -> None:
    post(client, "register", {"email": "alice@example.com", "password": PASSWORD})
    lookalike = LOOKALIKES[name]

    registered = post(client, "register", {"email": lookalike, "password": PASSWORD})
    logged_in = post(client, "login", {"email": lookalike, "password": PASSWORD})
    reset = post(client, "request-password-reset", {"email": lookalike})

    for response in (registered, logged_in, reset):
        assert response.status_code == 422, name
        assert response.json["code"] == "validation_failed"
        [reason] = response.json["details"]["fields"]["email"]
        assert reason.startswith("the ")
    assert session.scalar(select(func.count()).select_from(User)) == 1


# -- bodies ----------------------------------------------------------------------------------
def test_oversize_malformed_and_non_json_bodies_are_refused_in_the_one_shape(
    client: FlaskClient, session: Session, tx_platform: Platform
) -> None:
    limit = tx_platform.settings.max_request_bytes
    padding = " " * (limit + 1)
    oversize = f'{{"email": "big@example.com", "password": "{PASSWORD}"{padding}}}'
    cases = {
        413: client.post("/api/v1/auth/register", data=oversize, content_type="application/json"),
        400: client.post(
            "/api/v1/auth/register",
            data='{"email": "bad@example.com", "password": ',
            content_type="application/json",
        ),
        415: client.post(
            "/api/v1/auth/register",
            data=f"email=form@example.com&password={PASSWORD}",
            content_type="application/x-www-form-urlencoded",
        ),
    }
    for status, response in cases.items():
        assert response.status_code == status
        assert set(response.json) == {"code", "message", "details", "request_id"}
    assert cases[413].json["code"] == "payload_too_large"
    assert cases[400].json["code"] == "bad_request"
    assert cases[415].json["code"] == "unsupported_media_type"
    assert session.scalar(select(func.count()).select_from(User)) == 0


def test_a_login_in_a_form_post_is_refused_so_no_form_can_log_a_browser_in(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    before = session.scalar(select(func.count()).select_from(AuthSession))
    response = client.post(
        "/api/v1/auth/login",
        data=f"email={alice.user.email}&password={PASSWORD}&use_cookies=true",
        content_type="text/plain",
    )
    assert response.status_code == 415
    assert "Set-Cookie" not in response.headers
    assert session.scalar(select(func.count()).select_from(AuthSession)) == before
