"""What a user does with their own account: sign up, confirm, recover, re-address, update.

Tokens for these flows are mailed once, stored as digests, single-use and short-lived. A new
verification or reset token leaves the unused older ones valid (anyone may ask for one, and a
stranger's request must not void the owner's link); using one ends the others. A new e-mail
change token replaces the older ones: only the account's owner asks for it, and their latest
choice of address is the one that counts. The functions answer what the caller needs to mail;
the web layer writes and sends the mails, within the caps on mails per address.
Functions that look an address up answer None for an unknown one: the caller must answer the
same either way, so nobody learns which addresses have accounts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.accounts.users import (
    PASSWORDS,
    AuthSession,
    RefreshToken,
    User,
    check_password_rules,
    create_user,
    discard_email_tokens,
    find_user_by_email,
    issue_email_token,
    normalise_email,
    revoke_all_sessions,
    take_email_token,
    utcnow,
)
from models.core.errors import Conflict, EmailNotVerified, InvalidInput, WrongPassword

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"  # noqa: S105 - a token purpose, not a password
CHANGE_EMAIL = "change_email"


@dataclass(frozen=True)
class EmailChange:
    """A requested change: the token to mail to `new_email`, or the account already there."""

    new_email: str
    token: str | None
    taken_by: User | None


@dataclass(frozen=True)
class Registration:
    """What a sign-up needs mailed: a verification token for a new account, or, when the
    address already had one, a note to its owner (`verify_token` None)."""

    user: User
    verify_token: str | None


def register(
    *,
    session: Session,
    email: str,
    password: str,
    display_name: str | None,
    organization_name: str | None,
    verify_ttl_s: int,
) -> Registration | None:
    """Create an account, the organisation it owns and a verification token.

    A taken address writes nothing and answers its owner's account, so that the caller can
    answer the same either way; None only if the address was taken by a registration that
    then vanished (nobody to tell).
    """
    try:
        with session.begin_nested():
            user = create_user(
                session=session,
                email=email,
                password=password,
                display_name=display_name,
                organization_name=organization_name,
            )
    except Conflict:
        existing = find_user_by_email(session=session, email=email)
        return None if existing is None else Registration(existing, None)
    token = issue_email_token(session=session, user=user, purpose=VERIFY_EMAIL, ttl_s=verify_ttl_s)
    return Registration(user, token)


def resend_verification(*, session: Session, email: str, ttl_s: int) -> tuple[User, str] | None:
    """A fresh verification token for an unverified account; None for any other address."""
    user = find_user_by_email(session=session, email=email)
    if user is None or user.email_verified_at is not None:
        return None
    token = issue_email_token(
        session=session, user=user, purpose=VERIFY_EMAIL, ttl_s=ttl_s, replace=False
    )
    return user, token


def request_password_reset(*, session: Session, email: str, ttl_s: int) -> tuple[User, str] | None:
    """A reset token for the account with this address; None if there is none."""
    user = find_user_by_email(session=session, email=email)
    if user is None:
        return None
    token = issue_email_token(
        session=session, user=user, purpose=RESET_PASSWORD, ttl_s=ttl_s, replace=False
    )
    return user, token


def reset_password(*, session: Session, token: str, password: str) -> User:
    """Set a new password with a mailed token; every session of the user ends.

    Whoever holds the token read the mailbox, so the address counts as verified too.
    """
    check_password_rules(password)
    row = take_email_token(session=session, token=token, purpose=RESET_PASSWORD)
    user = _lock_user(session, row.user_id)
    user.password_hash = PASSWORDS.hash(password)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    discard_email_tokens(session=session, user_id=user.id, purposes=(RESET_PASSWORD,))
    revoke_all_sessions(session=session, user_id=user.id)
    return user


def check_password(user: User, password: str, *, field: str = "password") -> None:
    """Ask for the password again before a sensitive change."""
    if not user.has_password:
        raise WrongPassword(
            "this account has no password yet: set one with a password reset first",
            details={"fields": {field: ["none_set"]}},
        )
    if not PASSWORDS.verify(password, user.password_hash):
        raise WrongPassword("the password is wrong", details={"fields": {field: ["wrong"]}})


def change_password(
    *,
    session: Session,
    user: User,
    current_password: str,
    new_password: str,
    keep_session: uuid.UUID,
) -> None:
    """Replace the password; every session but the caller's ends."""
    check_password(user, current_password, field="current_password")
    check_password_rules(new_password)
    user.password_hash = PASSWORDS.hash(new_password)
    discard_email_tokens(session=session, user_id=user.id, purposes=(RESET_PASSWORD,))
    revoke_other_sessions(session=session, user_id=user.id, keep=keep_session)


def request_email_change(
    *,
    session: Session,
    user: User,
    new_email: str,
    password: str,
    ttl_s: int,
    session_id: uuid.UUID,
) -> EmailChange:
    """Start moving the account to `new_email`; it changes once the new mailbox confirms.

    Only a verified account may: an unverified one could be anyone's, made to send mail.
    """
    check_password(user, password)
    if user.email_verified_at is None:
        raise EmailNotVerified(
            "confirm your current address before moving the account to another one"
        )
    new_email = normalise_email(new_email)
    if new_email == user.email:
        raise InvalidInput(
            "that is already your address",
            details={"fields": {"new_email": ["same as the current address"]}},
        )
    taken = session.scalar(select(User).where(User.email == new_email))
    if taken is not None:
        return EmailChange(new_email=new_email, token=None, taken_by=taken)
    token = issue_email_token(
        session=session,
        user=user,
        purpose=CHANGE_EMAIL,
        ttl_s=ttl_s,
        data={"new_email": new_email, "session_id": str(session_id)},
    )
    return EmailChange(new_email=new_email, token=token, taken_by=None)


def confirm_email_change(*, session: Session, token: str) -> User:
    """Switch the account to the address the token was mailed to.

    Sessions other than the one that asked for the change end, and tokens mailed to the old
    address stop working.
    """
    row = take_email_token(session=session, token=token, purpose=CHANGE_EMAIL)
    user = _lock_user(session, row.user_id)
    data = row.data or {}
    new_email = str(data.get("new_email", ""))
    if not new_email:
        raise InvalidInput("token is invalid", details={"token": ["invalid"]})
    taken = select(User.id).where(User.email == new_email, User.id != user.id)
    if session.scalar(taken) is not None:
        raise _address_taken()
    try:
        with session.begin_nested():
            user.email = new_email
            user.email_verified_at = utcnow()
            session.flush()
    except IntegrityError:
        # Someone registered the address between the check and the update.
        raise _address_taken() from None
    discard_email_tokens(
        session=session, user_id=user.id, purposes=(VERIFY_EMAIL, RESET_PASSWORD, CHANGE_EMAIL)
    )
    keep = data.get("session_id")
    revoke_other_sessions(session=session, user_id=user.id, keep=uuid.UUID(keep) if keep else None)
    return user


def update_profile(*, user: User, display_name: str | None) -> User:
    """Change what the user may change about themselves: their display name."""
    user.display_name = display_name
    return user


def revoke_other_sessions(*, session: Session, user_id: uuid.UUID, keep: uuid.UUID | None) -> None:
    """End every session of the user except `keep` (all of them when it is None)."""
    if keep is None:
        revoke_all_sessions(session=session, user_id=user_id)
        return
    now = utcnow()
    session.execute(
        update(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            AuthSession.id != keep,
            AuthSession.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.user_id == user_id,
            RefreshToken.session_id != keep,
            RefreshToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )


def _lock_user(session: Session, user_id: uuid.UUID) -> User:
    return session.get_one(User, user_id, with_for_update=True)


def _address_taken() -> Conflict:
    return Conflict(
        "that address now belongs to another account",
        details={"fields": {"new_email": ["taken"]}},
    )
