"""Access tokens: short-lived JWTs (HS256) with issuer, audience, expiry and a key id.

The key id lets the secret rotate: tokens signed with JWT_PREVIOUS_SECRET stay valid until
they expire, while new ones are signed with JWT_SECRET. Only HS256 is accepted, so neither
alg=none nor an RS/HS confusion token gets through.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from config import Settings
from models.errors import AuthenticationFailed

ALGORITHM = "HS256"


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
    """The user and session of a valid token; AuthenticationFailed for anything else."""
    keys = {key_id(s): s for s in (settings.jwt_secret, settings.jwt_previous_secret) if s}
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        secret = keys.get(kid or "")
        if secret is None:
            raise AuthenticationFailed("access token signed with an unknown key")
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "nbf", "sub", "sid", "iss", "aud"]},
            leeway=5,
        )
        return AccessClaims(uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"]))
    except jwt.ExpiredSignatureError:
        raise AuthenticationFailed("access token expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise AuthenticationFailed("access token is not valid") from None
