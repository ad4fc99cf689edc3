"""Request authentication: which views need a caller, and who the caller is.

A view marked `auth_required` (or `admin_required`) runs only for a valid access token of a
live login session: a bearer token, or the access cookie with its CSRF token
(web/core/cookies.py). The check runs before the body and query are parsed
(`authenticate_first`), so a caller without a valid token learns nothing about what the route
would accept.

The platform decodes the token; which user it names, whether their session is still live and
which organisation they act in are the accounts domain's to say: it installs a `SignIn`
(`install_sign_in`), and the platform only ever reads the `Viewer` it returns.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from flask import Flask, current_app, g, request

from models.core.access import Viewer
from models.core.errors import AuthenticationFailed, BacklineError, NotFound, PermissionDenied
from web.core import cookies
from web.core.context import platform
from web.core.tokens import decode_access_token

# Either scheme authenticates: a bearer token, or the access cookie (+ X-CSRF-Token).
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"cookieAuth": []}]
ORG_HEADER = "X-Organization-ID"
AUTH_MARK = "_backline_auth"  # "user" or "admin", on the view methods that need a token
_SIGN_IN = "backline.sign_in"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class SignedIn:
    """Who a live session's token belongs to: the domain's user object, and the viewer."""

    user: Any
    viewer: Viewer


class SignIn(Protocol):
    def __call__(
        self, *, user_id: uuid.UUID, session_id: uuid.UUID, org_id: uuid.UUID | None
    ) -> SignedIn | None:
        """The user of a live session and their membership (of `org_id`, or their first);
        None when the session has ended."""


def install_sign_in(app: Flask, sign_in: SignIn) -> None:
    app.extensions[_SIGN_IN] = sign_in


def check_sign_in(app: Flask) -> None:
    """Refuse to build an app in which no domain says who a token belongs to."""
    if _SIGN_IN not in app.extensions:
        raise RuntimeError("no sign-in installed: the accounts domain must be in web.DOMAINS")


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            "send an access token: Authorization: Bearer <token> (or log in with use_cookies)"
        )
    return token.strip()


def _requested_org() -> uuid.UUID | None:
    raw = request.headers.get(ORG_HEADER)
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("organization not found", details={"organization_id": raw}) from None


def _authenticate() -> None:
    """Authenticate the request once: a refusal is kept and raised again if asked again."""
    if "auth_refusal" in g:
        raise g.auth_refusal
    if "user" in g:
        return
    try:
        _sign_in_caller()
    except BacklineError as refusal:
        g.auth_refusal = refusal
        raise


def _sign_in_caller() -> None:
    """Check the token, find its user and their organisation (the one X-Organization-ID names,
    of which the caller must be a member, or else the first they joined).

    Sets g.user (the accounts domain's user), g.viewer, g.session_id and g.org_id.
    """
    settings = platform().settings
    token, from_cookie = cookies.access_token_from_request()
    claims = decode_access_token(settings, token or _bearer_token())
    if from_cookie:
        cookies.check_csrf(settings, claims.session_id)
    org_id = _requested_org()
    sign_in: SignIn = current_app.extensions[_SIGN_IN]
    signed_in = sign_in(user_id=claims.user_id, session_id=claims.session_id, org_id=org_id)
    if signed_in is None:
        raise AuthenticationFailed("access token is not valid, or its session has ended")
    g.user, g.viewer = signed_in.user, signed_in.viewer
    g.org_id = signed_in.viewer.org_id
    g.session_id = claims.session_id
    if org_id is not None and g.org_id is None:
        raise NotFound("organization not found", details={"organization_id": str(org_id)})


def still_signed_in() -> bool:
    """Whether the caller is still who authentication found: the token unexpired, its session
    live, still a member of the organisation the request acts in. For requests that last (an
    event stream asks at each heartbeat, and ends when the answer is no)."""
    try:
        token, _ = cookies.access_token_from_request()
        decode_access_token(platform().settings, token or _bearer_token())
        sign_in: SignIn = current_app.extensions[_SIGN_IN]
        signed_in = sign_in(user_id=g.viewer.user_id, session_id=g.session_id, org_id=g.org_id)
    except BacklineError:
        return False
    return signed_in is not None and signed_in.viewer.org_id == g.org_id


def auth_required(view: F) -> F:
    """Reject the request unless it carries a valid access token of a live session."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _authenticate()
        return view(*args, **kwargs)

    setattr(wrapper, AUTH_MARK, getattr(view, AUTH_MARK, "user"))
    return wrapper  # type: ignore[return-value]


def _require_admin() -> None:
    if not current_viewer().is_admin:
        raise PermissionDenied("platform admins only")


def admin_required(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _require_admin()
        return view(*args, **kwargs)

    setattr(wrapper, AUTH_MARK, "admin")
    return auth_required(wrapper)  # type: ignore[arg-type,return-value]


def _auth_needed() -> str | None:
    """What the view about to run asks for: "user", "admin" or None (flask-smorest's and
    the limiter's decorators copy the mark outwards, since they wrap with functools.wraps)."""
    view = current_app.view_functions.get(request.endpoint or "")
    view_class = getattr(view, "view_class", None)
    if view_class is None:
        return getattr(view, AUTH_MARK, None)
    method = "get" if request.method == "HEAD" else request.method.lower()
    return getattr(getattr(view_class, method, None), AUTH_MARK, None)


def authenticate_first() -> None:
    """before_request: authenticate (and check admin rights) ahead of argument parsing."""
    needed = _auth_needed()
    if needed is None:
        return
    _authenticate()
    if needed == "admin":
        _require_admin()


def live_session_user() -> uuid.UUID | None:
    """The user whose live session the request's access token belongs to, or None: no token,
    a bad or expired one, one whose session has ended, or a cookie without its CSRF token.

    For the per-user rate limit, which runs before the view: it authenticates the request as
    `authenticate_first` would, once, so only the holder of a live session can spend its
    user's limit. A caller who is signed in but names an organisation they are not in is still
    that user.
    """
    with contextlib.suppress(BacklineError):
        _authenticate()
    viewer: Viewer | None = g.get("viewer")
    return viewer.user_id if viewer is not None else None


def current_viewer() -> Viewer:
    """Who the request acts as (after authentication)."""
    return g.viewer  # type: ignore[no-any-return]


def current_org_id() -> uuid.UUID:
    """The organisation the request acts in; a user in none cannot act."""
    if g.org_id is None:
        raise PermissionDenied(
            "you are not a member of any organization: accept an invitation or create one",
            details={"header": ORG_HEADER},
        )
    return g.org_id  # type: ignore[no-any-return]


def client_ip() -> str | None:
    return request.remote_addr
