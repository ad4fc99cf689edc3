"""/api/v1/auth: register, verify e-mail, login, refresh, logout, me.

Access tokens are short-lived JWTs; refresh tokens are random, stored hashed and rotate on
every use. Browsers may ask for them in HttpOnly cookies instead (web/core/cookies.py). Register
answers the same whether or not the address is taken (the owner of a taken address gets a mail
saying so), so it cannot be used to find out who has an account.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import Select, and_, bindparam, func, select, true
from sqlalchemy.orm import make_transient_to_detached

from models.accounts import flows as account_flows
from models.accounts import logins
from models.accounts import users as accounts
from models.accounts.users import AuthSession, User
from models.core.db import Prepared
from models.core.errors import (
    AuthenticationFailed,
    Conflict,
    LoginThrottled,
    NotFound,
    PermissionDenied,
)
from models.core.jobs import Viewer
from models.orgs.organizations import Membership, Role, primary_org_id
from web.accounts import mails
from web.core import cookies, limits
from web.core.context import db, platform
from web.core.fields import EmailAddress, Name
from web.core.tokens import decode_access_token, issue_access_token
from workers.core.enqueue import submit
from workers.core.registry import get_kind

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Accounts and tokens.")
# Either scheme authenticates: a bearer token, or the access cookie (+ X-CSRF-Token).
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"cookieAuth": []}]
F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("backline.web")


# -- schemas ---------------------------------------------------------------------------------
class RegisterRequest(Schema):
    email = EmailAddress(required=True)
    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(
            min=accounts.MIN_PASSWORD_LENGTH, max=accounts.MAX_PASSWORD_LENGTH
        ),
    )
    display_name = Name()
    organization_name = Name()


USE_COOKIES = {
    "description": "Browsers: set the tokens as HttpOnly cookies instead of returning them "
    "(the body then carries the CSRF token to send as X-CSRF-Token)."
}


class LoginRequest(Schema):
    email = EmailAddress(required=True)
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024))
    use_cookies = fields.Boolean(load_default=False, metadata=USE_COOKIES)


class RefreshRequest(Schema):
    refresh_token = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Omit it to use the backline_refresh cookie (with X-CSRF-Token)."},
    )
    use_cookies = fields.Boolean(load_default=False, metadata=USE_COOKIES)


class LogoutRequest(Schema):
    refresh_token = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Omit it to end the cookie's or the access token's session."},
    )


class VerifyEmailRequest(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class TokenPair(Schema):
    access_token = fields.String(metadata={"description": "Absent when use_cookies is set."})
    refresh_token = fields.String(metadata={"description": "Absent when use_cookies is set."})
    token_type = fields.String(required=True, metadata={"description": "bearer or cookie"})
    csrf_token = fields.String(metadata={"description": "With use_cookies: send as X-CSRF-Token."})
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds."})


class UserRead(Schema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    display_name = fields.String(allow_none=True)
    is_admin = fields.Boolean(required=True)
    email_verified = fields.Function(lambda u: u.email_verified_at is not None)
    created_at = fields.DateTime(required=True)


class ProfileUpdate(Schema):
    """What a user may change about themselves; anything else in the body is refused."""

    class Meta:
        unknown = RAISE  # is_admin, email, email_verified… are not the user's to set

    display_name = Name(required=True, allow_none=True)


class Accepted(Schema):
    message = fields.String(required=True)


# -- helpers ---------------------------------------------------------------------------------
ORG_HEADER = "X-Organization-ID"


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


def _auth_query(*, with_org: bool) -> Select[Any]:
    """The user of a live session, and their membership (of :org_id, or their first)."""
    member = select(Membership.org_id, Membership.role).where(Membership.user_id == User.id)
    if with_org:
        member = member.where(Membership.org_id == bindparam("org_id"))
    member_row = member.order_by(Membership.created_at, Membership.org_id).limit(1).lateral()
    return (
        select(*_USER_COLUMNS, member_row.c.org_id, member_row.c.role)
        .join(
            AuthSession,
            and_(
                AuthSession.id == bindparam("session_id"),
                AuthSession.user_id == User.id,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > func.now(),
            ),
        )
        .outerjoin(member_row, true())
        .where(User.id == bindparam("user_id"))
    )


# Every authenticated request runs one of them: compiled once, sent as prepared statements.
_USER_COLUMNS = tuple(User.__table__.c)
_AUTH_QUERY = {org: Prepared.compile(_auth_query(with_org=org)) for org in (False, True)}


def _signed_in(*values: Any) -> tuple[User, uuid.UUID | None, str | None]:
    """The auth query's row: the user, loaded into the request's session as if queried
    there (no second query to change it), and their membership's org and role."""
    *columns, org_id, role = values
    user = User(**{c.key: value for c, value in zip(_USER_COLUMNS, columns, strict=True)})
    make_transient_to_detached(user)
    db().add(user)
    return user, org_id, role


def _authenticate() -> None:
    """Load the token's user, check its session is live, and pick the organisation: one query.

    The organisation is the one X-Organization-ID names (the caller must be a member), or else
    the first the user joined (the one register created).
    """
    settings = platform().settings
    token, from_cookie = cookies.access_token_from_request()
    claims = decode_access_token(settings, token or _bearer_token())
    if from_cookie:
        cookies.check_csrf(settings, claims.session_id)
    org_id = _requested_org()
    params = {"user_id": claims.user_id, "session_id": claims.session_id, "org_id": org_id}
    row = _AUTH_QUERY[org_id is not None].fetchone(db(), params, _signed_in)
    if row is None:
        raise AuthenticationFailed("access token is not valid, or its session has ended")
    g.user, g.org_id, g.role = row
    g.session_id = claims.session_id
    if org_id is not None and g.org_id is None:
        raise NotFound("organization not found", details={"organization_id": str(org_id)})


AUTH_MARK = "_backline_auth"  # "user" or "admin", on the view methods that need a token


def auth_required(view: F) -> F:
    """Reject the request unless it carries a valid access token of a live session.

    Sets g.user, g.session_id, and g.org_id / g.role (the organisation the request acts in).
    The check runs before the body and query are parsed (see `authenticate_first`), so a
    caller without a valid token learns nothing about what the route would accept.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "user" not in g:
            _authenticate()
        return view(*args, **kwargs)

    setattr(wrapper, AUTH_MARK, getattr(view, AUTH_MARK, "user"))
    return wrapper  # type: ignore[return-value]


def _require_admin() -> None:
    if not g.user.is_admin:
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


def current_org_id() -> uuid.UUID:
    """The organisation the request acts in; a user in none cannot act."""
    if g.org_id is None:
        raise PermissionDenied(
            "you are not a member of any organization: accept an invitation or create one",
            details={"header": ORG_HEADER},
        )
    return g.org_id  # type: ignore[no-any-return]


def current_viewer() -> Viewer:
    role = Role(g.role) if g.role is not None else None
    return Viewer(user_id=g.user.id, org_id=g.org_id, role=role, is_admin=g.user.is_admin)


def client_ip() -> str | None:
    return request.remote_addr


def token_pair(user: User, auth_session: AuthSession, refresh_token: str) -> dict[str, Any]:
    settings = platform().settings
    return {
        "access_token": issue_access_token(settings, user.id, auth_session.id),
        "refresh_token": refresh_token,
        "token_type": "bearer",
        "expires_in": settings.access_token_ttl_s,
    }


def issue_tokens(
    user: User, auth_session: AuthSession, refresh_token: str, *, use_cookies: bool
) -> dict[str, Any]:
    """The login/refresh answer: the tokens, or (use_cookies) cookies and the CSRF token."""
    pair = token_pair(user, auth_session, refresh_token)
    if not use_cookies:
        return pair
    settings = platform().settings
    cookies.set_auth_cookies(settings, pair["access_token"], refresh_token, auth_session.id)
    return cookies.cookie_login_body(settings, auth_session.id)


def send_mail(
    owner: User, to: str, subject: str, text: str, org_id: uuid.UUID | None = None
) -> None:
    """Queue a platform mail on `owner`'s behalf (in their first organisation by default)."""
    kind = get_kind("email.send")
    assert kind is not None  # noqa: S101 - declared in workers/mail.py
    org_id = org_id or primary_org_id(session=db(), user_id=owner.id)
    if org_id is None:
        log.warning("not mailing %s: the user belongs to no organization", owner.id)
        return
    submit(
        session=db(),
        dispatcher=platform().dispatcher,
        owner_id=owner.id,
        org_id=org_id,
        kind=kind,
        params={"to": [to], "subject": subject, "text": text, "redact_after_send": True},
        request_id=getattr(g, "request_id", None),
        internal=True,  # the mail carries a token: its owner must not read it back
    )


# -- views -----------------------------------------------------------------------------------
@blp.route("/register")
class Register(MethodView):
    @limits.per_ip("rate_limit_register")
    @blp.arguments(RegisterRequest)
    @blp.response(202, Accepted)
    def post(self, body: dict[str, Any]) -> dict[str, str]:
        """Create an account and mail a verification link"""
        settings = platform().settings
        session = db()
        try:
            user = accounts.create_user(
                session=session,
                email=body["email"],
                password=body["password"],
                display_name=body.get("display_name"),
                organization_name=body.get("organization_name"),
            )
        except Conflict:
            session.rollback()
            existing = accounts.find_user_by_email(session=session, email=body["email"])
            if existing is not None:
                send_mail(existing, existing.email, *mails.taken_on_register())
        else:
            token = accounts.issue_email_token(
                session=session,
                user=user,
                purpose="verify_email",
                ttl_s=settings.verify_token_ttl_s,
            )
            send_mail(user, user.email, *mails.verify_email(settings, token, welcome=True))
        session.commit()
        return {"message": "check your inbox to confirm your address, then log in"}


@blp.route("/verify-email")
class VerifyEmail(MethodView):
    @limits.per_ip("rate_limit_verify_email")
    @blp.arguments(VerifyEmailRequest)
    @blp.response(200, UserRead)
    def post(self, body: dict[str, Any]) -> User:
        """Confirm an e-mail address with the token from the verification mail"""
        user = accounts.verify_email(session=db(), token=body["token"])
        db().commit()
        return user


@blp.route("/login")
class Login(MethodView):
    @limits.per_ip("rate_limit_login")
    @blp.arguments(LoginRequest)
    @blp.response(200, TokenPair)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Trade e-mail and password for an access and a refresh token

        After 5 wrong passwords in a row for an address, its attempts are refused (429
        login_throttled, Retry-After) for a delay that doubles with each further failure, up
        to 15 minutes; IPs the account logged in from before are judged on their own failures.
        """
        settings = platform().settings
        user_agent = request.headers.get("User-Agent")
        try:
            user, device = logins.log_in(
                session=db(),
                email=body["email"],
                password=body["password"],
                ip=client_ip(),
                user_agent=user_agent,
            )
        except (AuthenticationFailed, LoginThrottled):
            db().commit()  # the attempt stays on record: the audit and the throttle need it
            raise
        auth_session, refresh = accounts.start_session(
            session=db(),
            user=user,
            ttl_s=settings.refresh_token_ttl_s,
            ip=client_ip(),
            user_agent=user_agent,
            device=device.as_dict(),
        )
        db().commit()
        return issue_tokens(user, auth_session, refresh, use_cookies=body["use_cookies"])


@blp.route("/refresh")
class Refresh(MethodView):
    @limits.per_ip("rate_limit_refresh")
    @blp.arguments(RefreshRequest)
    @blp.response(200, TokenPair)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Trade a refresh token for a new pair (the old refresh token stops working)"""
        settings = platform().settings
        session = db()
        from_cookie = "refresh_token" not in body
        token: str = _refresh_cookie_checked() if from_cookie else body["refresh_token"]
        try:
            user, auth_session, refresh = accounts.rotate_refresh_token(
                session=session,
                token=token,
                ttl_s=settings.refresh_token_ttl_s,
                ip=client_ip(),
            )
        except AuthenticationFailed:
            session.commit()  # keep the session revocation of a replayed token
            raise
        session.commit()
        use_cookies = from_cookie or body["use_cookies"]
        return issue_tokens(user, auth_session, refresh, use_cookies=use_cookies)


def _refresh_cookie_checked() -> str:
    """The refresh cookie, if the request also carries its session's CSRF token."""
    token = cookies.refresh_token_from_cookie()
    if token is None:
        raise AuthenticationFailed("send a refresh token (in the body or the refresh cookie)")
    session_id = accounts.refresh_token_session_id(session=db(), token=token)
    if session_id is None:
        raise AuthenticationFailed("refresh token is invalid, expired or revoked")
    cookies.check_csrf(platform().settings, session_id)
    return token


@blp.route("/logout")
class Logout(MethodView):
    @blp.arguments(LogoutRequest)
    @blp.response(204)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> None:
        """End a login session: the refresh token's, else the caller's; clears auth cookies"""
        token = body.get("refresh_token") or cookies.refresh_token_from_cookie()
        if token is not None:
            accounts.revoke_refresh_token(session=db(), token=token, user_id=g.user.id)
        else:
            accounts.revoke_session(session=db(), session_id=g.session_id)
        db().commit()
        cookies.clear_auth_cookies(platform().settings)


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, UserRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self) -> User:
        """The account the access token belongs to"""
        return g.user  # type: ignore[no-any-return]

    @blp.arguments(ProfileUpdate)
    @blp.response(200, UserRead)
    @blp.doc(security=BEARER)
    @auth_required
    def patch(self, body: dict[str, Any]) -> User:
        """Update your profile (display name); other fields are refused with 422"""
        user = account_flows.update_profile(user=g.user, display_name=body["display_name"])
        db().commit()
        return user
