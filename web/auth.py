"""/api/v1/auth: register, verify e-mail, login, refresh, logout, me.

Access tokens are short-lived JWTs; refresh tokens are random, stored hashed and rotate on
every use. Register answers the same whether or not the address is taken (the owner of a taken
address gets a mail saying so), so it cannot be used to find out who has an account.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import and_, func, select, true

from models import accounts, logins
from models.accounts import AuthSession, User
from models.errors import (
    AuthenticationFailed,
    Conflict,
    LoginThrottled,
    NotFound,
    PermissionDenied,
)
from models.jobs import Viewer
from models.orgs import Membership, Role, primary_org_id
from web import limits
from web.context import db, platform
from web.tokens import decode_access_token, issue_access_token
from workers.enqueue import submit
from workers.registry import get_kind

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Accounts and tokens.")
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("backline.web")


# -- schemas ---------------------------------------------------------------------------------
class RegisterRequest(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=320))
    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(
            min=accounts.MIN_PASSWORD_LENGTH, max=accounts.MAX_PASSWORD_LENGTH
        ),
    )
    display_name = fields.String(validate=validate.Length(min=1, max=200))
    organization_name = fields.String(validate=validate.Length(min=1, max=200))


class LoginRequest(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=320))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024))


class RefreshRequest(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class VerifyEmailRequest(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class TokenPair(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds."})


class UserRead(Schema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    display_name = fields.String(allow_none=True)
    is_admin = fields.Boolean(required=True)
    email_verified = fields.Function(lambda u: u.email_verified_at is not None)
    created_at = fields.DateTime(required=True)


class Accepted(Schema):
    message = fields.String(required=True)


# -- helpers ---------------------------------------------------------------------------------
ORG_HEADER = "X-Organization-ID"


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("send an access token: Authorization: Bearer <token>")
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
    """Load the token's user, check its session is live, and pick the organisation: one query.

    The organisation is the one X-Organization-ID names (the caller must be a member), or else
    the first the user joined (the one register created).
    """
    claims = decode_access_token(platform().settings, _bearer_token())
    org_id = _requested_org()
    member = select(Membership.org_id, Membership.role).where(Membership.user_id == User.id)
    if org_id is not None:
        member = member.where(Membership.org_id == org_id)
    member_row = member.order_by(Membership.created_at, Membership.org_id).limit(1).lateral()
    row = (
        db()
        .execute(
            select(User, member_row.c.org_id, member_row.c.role)
            .join(
                AuthSession,
                and_(
                    AuthSession.id == claims.session_id,
                    AuthSession.user_id == User.id,
                    AuthSession.revoked_at.is_(None),
                    AuthSession.expires_at > func.now(),
                ),
            )
            .outerjoin(member_row, true())
            .where(User.id == claims.user_id)
        )
        .one_or_none()
    )
    if row is None:
        raise AuthenticationFailed("access token is not valid, or its session has ended")
    g.user, g.org_id, g.role = row
    g.session_id = claims.session_id
    if org_id is not None and g.org_id is None:
        raise NotFound("organization not found", details={"organization_id": str(org_id)})


def auth_required(view: F) -> F:
    """Reject the request unless it carries a valid access token of a live session.

    Sets g.user, g.session_id, and g.org_id / g.role (the organisation the request acts in).
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _authenticate()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def admin_required(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not g.user.is_admin:
            raise PermissionDenied("platform admins only")
        return view(*args, **kwargs)

    return auth_required(wrapper)  # type: ignore[arg-type,return-value]


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


def send_mail(
    owner: User, to: str, subject: str, text: str, org_id: uuid.UUID | None = None
) -> None:
    """Queue a platform mail on `owner`'s behalf (in their first organisation by default)."""
    kind = get_kind("email.send")
    assert kind is not None  # noqa: S101 - declared in workers/email.py
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
        params={"to": [to], "subject": subject, "text": text},
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
                send_mail(
                    existing,
                    existing.email,
                    "Someone tried to register with your address",
                    "Someone tried to create a Backline account with this e-mail address.\n"
                    "You already have one: log in, or reset your password if you forgot it.",
                )
        else:
            token = accounts.issue_email_token(
                session=session,
                user=user,
                purpose="verify_email",
                ttl_s=settings.verify_token_ttl_s,
            )
            hours = settings.verify_token_ttl_s // 3600
            send_mail(
                user,
                user.email,
                "Confirm your e-mail address",
                f"Welcome to Backline.\n\nConfirm your address with this token:\n\n"
                f"Token: {token}\n\n"
                f'(POST it as JSON {{"token": "..."}} to '
                f"{settings.public_base_url}/api/v1/auth/verify-email)\n"
                f"It expires in {hours} hours and works once.",
            )
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
        return token_pair(user, auth_session, refresh)


@blp.route("/refresh")
class Refresh(MethodView):
    @limits.per_ip("rate_limit_refresh")
    @blp.arguments(RefreshRequest)
    @blp.response(200, TokenPair)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Trade a refresh token for a new pair (the old refresh token stops working)"""
        settings = platform().settings
        session = db()
        try:
            user, auth_session, refresh = accounts.rotate_refresh_token(
                session=session,
                token=body["refresh_token"],
                ttl_s=settings.refresh_token_ttl_s,
                ip=client_ip(),
            )
        except AuthenticationFailed:
            session.commit()  # keep the session revocation of a replayed token
            raise
        session.commit()
        return token_pair(user, auth_session, refresh)


@blp.route("/logout")
class Logout(MethodView):
    @blp.arguments(RefreshRequest)
    @blp.response(204)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> None:
        """End the login session of a refresh token (its access tokens stop working too)"""
        accounts.revoke_refresh_token(session=db(), token=body["refresh_token"], user_id=g.user.id)
        db().commit()


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, UserRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self) -> User:
        """The account the access token belongs to"""
        return g.user  # type: ignore[no-any-return]
