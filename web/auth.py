"""/api/v1/auth: register, verify e-mail, login, refresh, logout, me.

Access tokens are short-lived JWTs; refresh tokens are random, stored hashed and rotate on
every use. Register answers the same whether or not the address is taken (the owner of a taken
address gets a mail saying so), so it cannot be used to find out who has an account.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from models import accounts
from models.accounts import User
from models.errors import AuthenticationFailed, Conflict, PermissionDenied
from models.jobs import Viewer
from web.context import db, platform
from web.tokens import decode_access_token, issue_access_token
from workers.enqueue import submit
from workers.registry import get_kind

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Accounts and tokens.")
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
F = TypeVar("F", bound=Callable[..., Any])


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
def auth_required(view: F) -> F:
    """Reject the request unless it carries a valid access token; sets g.user."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationFailed("send an access token: Authorization: Bearer <token>")
        user_id = decode_access_token(platform().settings, token.strip())
        user = db().get(User, user_id)
        if user is None:
            raise AuthenticationFailed("access token is not valid")
        g.user = user
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def admin_required(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not g.user.is_admin:
            raise PermissionDenied("platform admins only")
        return view(*args, **kwargs)

    return auth_required(wrapper)  # type: ignore[arg-type,return-value]


def current_viewer() -> Viewer:
    return Viewer(user_id=g.user.id, is_admin=g.user.is_admin)


def token_pair(user: User, refresh_token: str) -> dict[str, Any]:
    settings = platform().settings
    return {
        "access_token": issue_access_token(settings, user.id),
        "refresh_token": refresh_token,
        "token_type": "bearer",
        "expires_in": settings.access_token_ttl_s,
    }


def send_mail(owner: User, to: str, subject: str, text: str) -> None:
    kind = get_kind("email.send")
    assert kind is not None  # noqa: S101 - declared in workers/email.py
    submit(
        session=db(),
        dispatcher=platform().dispatcher,
        owner_id=owner.id,
        kind=kind,
        params={"to": [to], "subject": subject, "text": text},
        request_id=getattr(g, "request_id", None),
        internal=True,  # the mail carries a token: its owner must not read it back
    )


# -- views -----------------------------------------------------------------------------------
@blp.route("/register")
class Register(MethodView):
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
    @blp.arguments(VerifyEmailRequest)
    @blp.response(200, UserRead)
    def post(self, body: dict[str, Any]) -> User:
        """Confirm an e-mail address with the token from the verification mail"""
        user = accounts.verify_email(session=db(), token=body["token"])
        db().commit()
        return user


@blp.route("/login")
class Login(MethodView):
    @blp.arguments(LoginRequest)
    @blp.response(200, TokenPair)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Trade e-mail and password for an access and a refresh token"""
        settings = platform().settings
        user = accounts.authenticate(session=db(), email=body["email"], password=body["password"])
        refresh = accounts.issue_refresh_token(
            session=db(),
            user=user,
            ttl_s=settings.refresh_token_ttl_s,
            user_agent=request.headers.get("User-Agent"),
        )
        db().commit()
        return token_pair(user, refresh)


@blp.route("/refresh")
class Refresh(MethodView):
    @blp.arguments(RefreshRequest)
    @blp.response(200, TokenPair)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Trade a refresh token for a new pair (the old refresh token stops working)"""
        settings = platform().settings
        session = db()
        try:
            user, refresh = accounts.rotate_refresh_token(
                session=session,
                token=body["refresh_token"],
                ttl_s=settings.refresh_token_ttl_s,
                user_agent=request.headers.get("User-Agent"),
            )
        except AuthenticationFailed:
            session.commit()  # keep the family revocation of a replayed token
            raise
        session.commit()
        return token_pair(user, refresh)


@blp.route("/logout")
class Logout(MethodView):
    @blp.arguments(RefreshRequest)
    @blp.response(204)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> None:
        """Revoke a refresh token (and the others rotated from the same login)"""
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
