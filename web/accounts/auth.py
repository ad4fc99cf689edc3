"""/api/v1/auth: register, verify e-mail, login, refresh, logout, me.

Access tokens are short-lived JWTs; refresh tokens are random, stored hashed and rotate on
every use. Browsers may ask for them in HttpOnly cookies instead (web/core/cookies.py). Register
answers the same whether or not the address is taken (the owner of a taken address gets a mail
saying so), so it cannot be used to find out who has an account.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import Select, and_, bindparam, func, select, true
from sqlalchemy.orm import make_transient_to_detached

from models.accounts import flows as account_flows
from models.accounts import logins
from models.accounts import users as accounts
from models.accounts.devices import parse_user_agent
from models.accounts.users import AuthSession, User
from models.billing import start_trial
from models.core.access import Role, Viewer
from models.core.db import Prepared
from models.core.errors import (
    AuthenticationFailed,
    LoginThrottled,
)
from models.mail import Trigger, enrol_on_event
from models.orgs import Membership, primary_org_id
from web.accounts import mails
from web.core import cookies, limits
from web.core.auth import BEARER, SignedIn, auth_required, client_ip
from web.core.context import db, platform
from web.core.fields import EmailAddress, Name, Text
from web.core.tokens import issue_access_token
from workers.core.enqueue import submit
from workers.core.registry import get_kind

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Accounts and tokens.")
log = logging.getLogger("backline.web")


# -- schemas ---------------------------------------------------------------------------------
class RegisterRequest(Schema):
    email = EmailAddress(required=True)
    password = Text(
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
    password = Text(required=True, load_only=True, validate=validate.Length(max=1024))
    use_cookies = fields.Boolean(load_default=False, metadata=USE_COOKIES)


class RefreshRequest(Schema):
    refresh_token = Text(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Omit it to use the backline_refresh cookie (with X-CSRF-Token)."},
    )
    use_cookies = fields.Boolean(load_default=False, metadata=USE_COOKIES)


class LogoutRequest(Schema):
    refresh_token = Text(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Omit it to end the cookie's or the access token's session."},
    )


class VerifyEmailRequest(Schema):
    token = Text(required=True, validate=validate.Length(min=1, max=200))


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


# -- signing in ------------------------------------------------------------------------------
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


def _signed_in(*values: Any) -> SignedIn:
    """The auth query's row: the user, loaded into the request's session as if queried
    there (no second query to change it), and whom they act as."""
    *columns, org_id, role = values
    user = User(**{c.key: value for c, value in zip(_USER_COLUMNS, columns, strict=True)})
    make_transient_to_detached(user)
    db().add(user)
    viewer = Viewer(
        user_id=user.id,
        org_id=org_id,
        role=Role(role) if role is not None else None,
        is_admin=user.is_admin,
        email_verified=user.email_verified_at is not None,
    )
    return SignedIn(user, viewer)


def sign_in(
    *, user_id: uuid.UUID, session_id: uuid.UUID, org_id: uuid.UUID | None
) -> SignedIn | None:
    """The platform's question for every authenticated request (web/core/auth.py): one query."""
    params = {"user_id": user_id, "session_id": session_id, "org_id": org_id}
    return _AUTH_QUERY[org_id is not None].fetchone(db(), params, _signed_in)


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
        registration = account_flows.register(
            session=db(),
            email=body["email"],
            password=body["password"],
            display_name=body.get("display_name"),
            organization_name=body.get("organization_name"),
            verify_ttl_s=settings.verify_token_ttl_s,
        )
        if registration is not None:
            user, token = registration.user, registration.verify_token
            if token is None:
                send_mail(user, user.email, *mails.taken_on_register())
            else:
                send_mail(user, user.email, *mails.verify_email(settings, token, welcome=True))
                # The organisation register made starts its trial (models/billing.py).
                org_id = primary_org_id(session=db(), user_id=user.id)
                if org_id is not None:
                    start_trial(session=db(), org_id=org_id, days=settings.trial_days)
                    # The trial's mails start when the address is confirmed (verify-email).
        db().commit()
        return {"message": "check your inbox to confirm your address, then log in"}


@blp.route("/verify-email")
class VerifyEmail(MethodView):
    @limits.per_ip("rate_limit_verify_email")
    @blp.arguments(VerifyEmailRequest)
    @blp.response(200, UserRead)
    def post(self, body: dict[str, Any]) -> User:
        """Confirm an e-mail address with the token from the verification mail"""
        user = accounts.verify_email(session=db(), token=body["token"])
        # A confirmed owner of an organisation on its trial gets the trial's mails (once).
        org_id = primary_org_id(session=db(), user_id=user.id)
        if org_id is not None:
            enrol_on_event(session=db(), trigger=Trigger.TRIAL_STARTED, org_id=org_id)
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
        except AuthenticationFailed:
            db().commit()  # the attempt stays on record: the audit and the throttle need it
            raise
        except LoginThrottled:
            started = time.monotonic()
            _offer_unlock(body["email"], user_agent)
            db().commit()  # before the wait: the address's login lock is released here
            # No sooner than ACCOUNT_MAIL_ANSWER_MS, as the other answers that may mail an
            # owner: the unlock mail's work must not tell which addresses have accounts.
            floor_s = settings.account_mail_answer_ms / 1000
            time.sleep(max(0.0, floor_s - (time.monotonic() - started)))
            raise
        auth_session, refresh = accounts.start_session(
            session=db(),
            user=user,
            ttl_s=settings.refresh_token_ttl_s,
            ip=client_ip(),
            user_agent=user_agent,
            device=device.as_dict(),
        )
        notice_new_country(user, auth_session)
        db().commit()
        return issue_tokens(user, auth_session, refresh, use_cookies=body["use_cookies"])


def notice_new_country(user: User, auth_session: AuthSession) -> None:
    """Tell the owner of a login from a country the account never logged in from, with a
    link that ends that session."""
    country = auth_session.country
    if not logins.first_login_from(session=db(), user_id=user.id, country=country):
        return
    token = logins.end_session_link(session=db(), user=user, session_id=auth_session.id)
    send_mail(user, user.email, *mails.new_country(platform().settings, token, auth_session))


def _offer_unlock(email: str, user_agent: str | None) -> None:
    """Mail the owner a link that lets this new network in (capped per address, silent)."""
    settings = platform().settings
    if not limits.allows_mail_to("rate_limit_login_unlock_mail", email):
        return
    offer = logins.unlock_offer(
        session=db(), email=email, ip=client_ip(), ttl_s=settings.login_unlock_token_ttl_s
    )
    if offer is not None:
        user, token = offer
        device = parse_user_agent(user_agent)
        send_mail(user, user.email, *mails.login_unlock(settings, token, client_ip(), device))


@blp.route("/unlock-login")
class UnlockLogin(MethodView):
    @limits.per_ip("rate_limit_verify_email")  # a mailed token, like verify
    @blp.arguments(VerifyEmailRequest)
    @blp.response(200, Accepted)
    def post(self, body: dict[str, Any]) -> dict[str, str]:
        """Let the network named in an unlock mail log in to the account despite the throttle"""
        ip = logins.unlock_network(session=db(), token=body["token"])
        db().commit()
        return {"message": f"logins from {ip} are judged on their own failures now: log in"}


@blp.route("/end-session")
class EndSession(MethodView):
    @limits.per_ip("rate_limit_verify_email")  # a mailed token, like verify
    @blp.arguments(VerifyEmailRequest)
    @blp.response(200, Accepted)
    def post(self, body: dict[str, Any]) -> dict[str, str]:
        """End the session a new-country notice told of, with the mailed token"""
        logins.end_session_by_link(session=db(), token=body["token"])
        db().commit()
        return {"message": "that session is over; change your password if it was not you"}


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
                key=settings.jwt_secret,
                grace_s=settings.refresh_reuse_grace_s,
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
