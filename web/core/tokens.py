"""Access tokens: short-lived JWTs (HS256) with issuer, audience, expiry and a key id.

The key id lets the secret rotate: tokens signed with JWT_PREVIOUS_SECRET stay valid until
they expire, while new ones are signed with JWT_SECRET. Only HS256 is accepted, so neither
alg=none nor an RS/HS confusion token gets through.
"""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from config import Settings
from models.core.errors import AuthenticationFailed

ALGORITHM = "HS256"
LEEWAY_S = 5  # clock skew allowed on exp, nbf and iat
# Tokens whose signature was checked, remembered per process: a few MB at most.
VERIFIED_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=8)
def key_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID


def issue_access_token(settings: Settings, user_id: uuid.UUID, session_id: uuid.UUID) -> str:
    """A token for `user_id` in login session `session_id` (revoking the session ends it)."""
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=settings.access_token_ttl_s),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(
        claims,
        settings.jwt_secret,
        algorithm=ALGORITHM,
        headers={"kid": key_id(settings.jwt_secret)},
    )


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    """The user and session of a valid token; AuthenticationFailed for anything else.

    The signature and the fixed claims are checked once per token and remembered (every
    request of a client carries the same token until it expires: re-checking cost a tenth of
    a small request); the clock-bound claims, exp and nbf, are checked on every use.
    """
    keys = tuple((key_id(s), s) for s in (settings.jwt_secret, settings.jwt_previous_secret) if s)
    claims, not_before, expires = _verified(token, keys, settings.jwt_audience, settings.jwt_issuer)
    now = time.time()
    if now > expires + LEEWAY_S:
        raise AuthenticationFailed("access token expired")
    if now < not_before - LEEWAY_S:
        raise AuthenticationFailed("access token is not valid")
    return claims


@functools.lru_cache(maxsize=VERIFIED_CACHE_SIZE)
def _verified(
    token: str, keys: tuple[tuple[str, str], ...], audience: str, issuer: str
) -> tuple[AccessClaims, int, int]:
    """A token's claims, nbf and exp, once its signature and fixed claims hold (else raises:
    failures are not remembered)."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        secret = dict(keys).get(kid or "")
        if secret is None:
            raise AuthenticationFailed("access token signed with an unknown key")
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={
                "require": ["exp", "iat", "nbf", "sub", "sid", "iss", "aud"],
                "verify_exp": False,  # checked on every use, by decode_access_token
                "verify_nbf": False,
            },
            leeway=LEEWAY_S,
        )
        access = AccessClaims(uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"]))
        return access, int(claims["nbf"]), int(claims["exp"])
    except (jwt.InvalidTokenError, ValueError, TypeError, OverflowError):
        raise AuthenticationFailed("access token is not valid") from None
