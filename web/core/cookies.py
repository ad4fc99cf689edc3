"""Browser sessions: tokens in HttpOnly cookies, with a session-bound CSRF token.

A browser client opts in at login (`"use_cookies": true`). The access token then travels in
`backline_access` (Path=/api) and the refresh token in `backline_refresh` (Path=/api/v1/auth),
both HttpOnly, so script on the page (an XSS) cannot read them. Because a browser attaches
cookies to cross-site requests too, every unsafe request authenticated by cookie must carry
`X-CSRF-Token`: HMAC-SHA256(JWT secret, "csrf:" + session id). It is bound to the login session,
so a cookie planted by a sibling subdomain (cookie tossing) cannot carry a valid one, and it is
also readable by the page in the `backline_csrf` cookie (and returned in the login body).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from flask import Response, after_this_request, request

from config import Settings
from models.core.errors import CsrfFailed

ACCESS_COOKIE = "backline_access"
REFRESH_COOKIE = "backline_refresh"
CSRF_COOKIE = "backline_csrf"
CSRF_HEADER = "X-CSRF-Token"
ACCESS_PATH = "/api"
REFRESH_PATH = "/api/v1/auth"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_token(secret: str, session_id: uuid.UUID) -> str:
    return hmac.new(secret.encode(), f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def check_csrf(settings: Settings, session_id: uuid.UUID) -> None:
    """Refuse an unsafe request unless it carries the session's CSRF token."""
    if request.method not in UNSAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    # The previous secret too, so a key rotation does not break open browser sessions.
    keys = [s for s in (settings.jwt_secret, settings.jwt_previous_secret) if s]
    if not sent or not any(
        hmac.compare_digest(sent.encode(), csrf_token(k, session_id).encode()) for k in keys
    ):
        raise CsrfFailed(
            f"cookie-authenticated requests must send the {CSRF_HEADER} header "
            f"(the value of the {CSRF_COOKIE} cookie)",
            details={"header": CSRF_HEADER},
        )


def cookie_login_body(settings: Settings, session_id: uuid.UUID) -> dict[str, Any]:
    """What a cookie login answers instead of the tokens."""
    return {
        "token_type": "cookie",
        "csrf_token": csrf_token(settings.jwt_secret, session_id),
        "expires_in": settings.access_token_ttl_s,
    }


def set_auth_cookies(
    settings: Settings, access_token: str, refresh_token: str, session_id: uuid.UUID
) -> None:
    """Put the tokens in cookies on the response of the current request."""

    @after_this_request
    def _set(response: Response) -> Response:
        options: dict[str, Any] = {
            "secure": settings.cookie_secure,
            "samesite": settings.cookie_samesite,
        }
        response.set_cookie(
            ACCESS_COOKIE,
            access_token,
            max_age=settings.access_token_ttl_s,
            path=ACCESS_PATH,
            httponly=True,
            **options,
        )
        response.set_cookie(
            REFRESH_COOKIE,
            refresh_token,
            max_age=settings.refresh_token_ttl_s,
            path=REFRESH_PATH,
            httponly=True,
            **options,
        )
        response.set_cookie(
            CSRF_COOKIE,
            csrf_token(settings.jwt_secret, session_id),
            max_age=settings.refresh_token_ttl_s,
            path="/",
            httponly=False,  # the page reads it to send X-CSRF-Token
            **options,
        )
        return response


def clear_auth_cookies(settings: Settings) -> None:
    """Expire the auth cookies on the response of the current request."""

    @after_this_request
    def _clear(response: Response) -> Response:
        options: dict[str, Any] = {
            "secure": settings.cookie_secure,
            "samesite": settings.cookie_samesite,
        }
        response.delete_cookie(ACCESS_COOKIE, path=ACCESS_PATH, httponly=True, **options)
        response.delete_cookie(REFRESH_COOKIE, path=REFRESH_PATH, httponly=True, **options)
        response.delete_cookie(CSRF_COOKIE, path="/", **options)
        return response


def access_token_from_request() -> tuple[str | None, bool]:
    """The access token, and whether it came from the cookie (the Authorization header wins)."""
    if "Authorization" in request.headers:
        return None, False
    token = request.cookies.get(ACCESS_COOKIE)
    return (token, True) if token else (None, False)


def refresh_token_from_cookie() -> str | None:
    return request.cookies.get(REFRESH_COOKIE) or None
