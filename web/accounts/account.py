"""/api/v1/auth: what users do with their own account besides logging in.

Resend the verification mail, reset a forgotten password, change the password, move the
account to another address. The endpoints that take an address from anyone (resend, reset)
answer the same whatever the address, so they cannot be used to find out who has an account.
Mails to one address are capped (web.core.limits.allows_mail_to): past a cap the answer is the
same 202 and nothing is sent, so whoever spends the cap cannot lock the owner out with 429s.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, validate

from models.accounts import flows
from models.accounts.users import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, User
from web.accounts import mails
from web.accounts.auth import Accepted, UserRead, send_mail
from web.core import limits
from web.core.auth import BEARER, auth_required
from web.core.context import db, platform
from web.core.fields import EmailAddress, Text

blp = Blueprint(
    "account", __name__, url_prefix="/api/v1/auth", description="Account recovery and changes."
)


# -- schemas ---------------------------------------------------------------------------------
def _new_password(**kwargs: Any) -> Text:
    return Text(
        required=True,
        load_only=True,
        validate=validate.Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH),
        **kwargs,
    )


class EmailRequest(Schema):
    email = EmailAddress(required=True)


class ResetPasswordRequest(Schema):
    token = Text(required=True, validate=validate.Length(min=1, max=200))
    password = _new_password()


class ChangePasswordRequest(Schema):
    current_password = Text(required=True, load_only=True, validate=validate.Length(max=1024))
    new_password = _new_password()


class EmailChangeRequest(Schema):
    new_email = EmailAddress(required=True)
    password = Text(required=True, load_only=True, validate=validate.Length(max=1024))


class TokenRequest(Schema):
    token = Text(required=True, validate=validate.Length(min=1, max=200))


SAME_ANSWER = "if that address has an account that needs it, a mail is on its way"
F = TypeVar("F", bound=Callable[..., Any])


def same_time(view: F) -> F:
    """Answer no sooner than ACCOUNT_MAIL_ANSWER_MS after the request came in.

    For an address with an account the view writes a token and queues a mail; for any other
    it has nothing to do. Without a floor, the difference in time (tens of milliseconds)
    would tell which addresses have accounts. The floor sits above what the work takes.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return view(*args, **kwargs)
        finally:
            floor_s = platform().settings.account_mail_answer_ms / 1000
            time.sleep(max(0.0, floor_s - (time.monotonic() - started)))

    return wrapper  # type: ignore[return-value]


def _mail_a_token(
    email: str,
    *,
    cap: str,
    issue: Callable[[], tuple[User, str] | None],
    mail: Callable[[str], mails.Mail],
) -> dict[str, str]:
    """The one answer of the endpoints anyone may call with any address: a token is issued
    and mailed if the address has an account that needs one and its mail cap allows."""
    if limits.allows_mail_to(cap, email):
        issued = issue()
        if issued is not None:
            user, token = issued
            send_mail(user, user.email, *mail(token))
        db().commit()
    return {"message": SAME_ANSWER}


# -- views -----------------------------------------------------------------------------------
@blp.route("/resend-verification")
class ResendVerification(MethodView):
    @limits.per_ip("rate_limit_account_mail")
    @blp.arguments(EmailRequest)
    @blp.response(202, Accepted)
    @same_time
    def post(self, body: dict[str, Any]) -> dict[str, str]:
        """Mail a new verification token (same answer for every address)"""
        settings = platform().settings
        return _mail_a_token(
            body["email"],
            cap="rate_limit_resend_verification",
            issue=lambda: flows.resend_verification(
                session=db(), email=body["email"], ttl_s=settings.verify_token_ttl_s
            ),
            mail=lambda token: mails.verify_email(settings, token, welcome=False),
        )


@blp.route("/request-password-reset")
class RequestPasswordReset(MethodView):
    @limits.per_ip("rate_limit_account_mail")
    @blp.arguments(EmailRequest)
    @blp.response(202, Accepted)
    @same_time
    def post(self, body: dict[str, Any]) -> dict[str, str]:
        """Mail a password reset token (same answer for every address)"""
        settings = platform().settings
        return _mail_a_token(
            body["email"],
            cap="rate_limit_password_reset",
            issue=lambda: flows.request_password_reset(
                session=db(), email=body["email"], ttl_s=settings.reset_token_ttl_s
            ),
            mail=lambda token: mails.password_reset(settings, token),
        )


@blp.route("/reset-password")
class ResetPassword(MethodView):
    @limits.per_ip("rate_limit_verify_email")  # a mailed token, like verify
    @blp.arguments(ResetPasswordRequest)
    @blp.response(200, Accepted)
    def post(self, body: dict[str, Any]) -> dict[str, str]:
        """Set a new password with the mailed token; every session is logged out"""
        user = flows.reset_password(session=db(), token=body["token"], password=body["password"])
        send_mail(user, user.email, *mails.password_changed())
        db().commit()
        return {"message": "password changed: log in with the new one"}


@blp.route("/change-password")
class ChangePassword(MethodView):
    @limits.per_ip("rate_limit_login")  # checks a password, like login
    @limits.per_user("rate_limit_change_password")  # guesses spread over many IPs, too
    @blp.arguments(ChangePasswordRequest)
    @blp.response(204)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> None:
        """Change the password (the current one is asked again); other sessions end"""
        flows.change_password(
            session=db(),
            user=g.user,
            current_password=body["current_password"],
            new_password=body["new_password"],
            keep_session=g.session_id,
        )
        send_mail(g.user, g.user.email, *mails.password_changed())
        db().commit()


@blp.route("/request-email-change")
class RequestEmailChange(MethodView):
    @limits.per_ip("rate_limit_login")  # checks a password, like login
    @blp.arguments(EmailChangeRequest)
    @blp.response(202, Accepted)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> dict[str, str]:
        """Move the account to a new address, once that address confirms (verified accounts)"""
        settings = platform().settings
        user: User = g.user
        change = flows.request_email_change(
            session=db(),
            user=user,
            new_email=body["new_email"],
            password=body["password"],
            ttl_s=settings.email_change_token_ttl_s,
            session_id=g.session_id,
        )
        # Capped per target address, whoever asks: no account can be made to mail-bomb one.
        # The same answer as a free address; the owner of a taken one learns someone tried.
        if change.token is not None:
            mail = mails.confirm_new_address(settings, change.token)
            cap, owner = "rate_limit_email_change_confirmation", user
        else:  # taken
            assert change.taken_by is not None  # noqa: S101 - no token means the address is taken
            mail = mails.address_already_registered()
            cap, owner = "rate_limit_address_taken_notice", change.taken_by
        if limits.allows_mail_to(cap, change.new_email):
            send_mail(owner, change.new_email, *mail)
        send_mail(user, user.email, *mails.address_change_requested(change.new_email))
        db().commit()
        return {"message": "check the new address's inbox to confirm the change"}


@blp.route("/confirm-email-change")
class ConfirmEmailChange(MethodView):
    @limits.per_ip("rate_limit_verify_email")  # a mailed token, like verify
    @blp.arguments(TokenRequest)
    @blp.response(200, UserRead)
    def post(self, body: dict[str, Any]) -> User:
        """Confirm the new address with the mailed token; other sessions end"""
        user = flows.confirm_email_change(session=db(), token=body["token"])
        db().commit()
        return user
