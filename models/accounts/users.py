"""Users, their refresh tokens and e-mail tokens, and the rules for them.

Passwords are hashed with argon2 through passlib's CryptContext. Refresh tokens and e-mail
tokens are random strings given to the user once; only their SHA-256 digests are stored, so a
database leak does not leak usable tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta
from typing import Any

from passlib.context import CryptContext
from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.accounts.places import locate
from models.core.addresses import normalise_email
from models.core.base import Base, digest, now_ts, timestamp, utcnow, uuid_pk
from models.core.concurrency import off_loop
from models.core.errors import AuthenticationFailed, Conflict, InvalidInput
from models.orgs import create_organization

# Re-exported: other modules take them from here.
__all__ = ["digest", "normalise_email", "utcnow"]


class _Passwords:
    """argon2 through passlib's CryptContext, hashing on a real thread in the API's gevent
    processes (models/core/concurrency.py): a hash takes tens of milliseconds of CPU."""

    def __init__(self) -> None:
        self._context = CryptContext(schemes=["argon2"], deprecated="auto")

    def hash(self, secret: str) -> str:
        return off_loop(self._context.hash, secret)

    def verify(self, secret: str, hashed: str) -> bool:
        return off_loop(self._context.verify, secret, hashed)

    def needs_update(self, hashed: str) -> bool:
        return bool(self._context.needs_update(hashed))


PASSWORDS = _Passwords()
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
# Verified against when the e-mail is unknown, so a login for a missing account costs the
# same time as one for an existing account (no user enumeration by timing).
_DUMMY_HASH = PASSWORDS.hash("backline-dummy-password")


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid_pk]
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    display_name: Mapped[str | None] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, server_default="false")
    email_verified_at: Mapped[timestamp | None]
    created_at: Mapped[now_ts]
    updated_at: Mapped[now_ts] = mapped_column(onupdate=func.now())

    @property
    def has_password(self) -> bool:
        """False for an account made through a provider, until a password reset sets one."""
        return bool(self.password_hash)

    # Set when the account was deleted: the row stays, naming no one (models/accounts/leaving.py).
    deleted_at: Mapped[timestamp | None]


class AuthSession(Base):
    """One login: the refresh tokens rotated from it, and what the user sees of it.

    Access tokens name their session (claim `sid`); a revoked session stops its access tokens
    at once, not only its refresh token.
    """

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_user_id", "user_id", text("created_at DESC")),)

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    device: Mapped[str | None] = mapped_column(String(20))
    browser: Mapped[str | None] = mapped_column(String(100))
    os: Mapped[str | None] = mapped_column(String(100))
    # Where the login came from (models/accounts/places.py), when the IP says.
    country: Mapped[str | None] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(100))
    # The provider the login went through ("google"); None for a password login.
    provider: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[now_ts]
    last_used_at: Mapped[now_ts]
    expires_at: Mapped[timestamp]
    revoked_at: Mapped[timestamp | None]


class LoginAttempt(Base):
    """One login attempt, successful or not: the audit trail and the throttle's memory."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", text("at DESC")),
        Index("ix_login_attempts_user_id_at", "user_id", text("at DESC")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    device: Mapped[str | None] = mapped_column(String(20))
    browser: Mapped[str | None] = mapped_column(String(100))
    os: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(20))
    at: Mapped[now_ts]


class RefreshToken(Base):
    """One refresh token; the tokens rotated from one login share its session."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[timestamp]
    revoked_at: Mapped[timestamp | None]
    rotated_at: Mapped[timestamp | None]
    created_at: Mapped[now_ts]


class EmailToken(Base):
    """A single-use token mailed to a user: verify e-mail, reset password, change e-mail."""

    __tablename__ = "email_tokens"

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # What the token is for beyond its purpose (the new address of an e-mail change).
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    expires_at: Mapped[timestamp]
    used_at: Mapped[timestamp | None]
    created_at: Mapped[now_ts]


def check_password_rules(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            details={"password": ["length"]},
        )


def create_user(
    *,
    session: Session,
    email: str,
    password: str | None,
    display_name: str | None = None,
    is_admin: bool = False,
    organization_name: str | None = None,
) -> User:
    """Add a user and the organisation they own; the e-mail must not be taken.

    Without a password (an account made by signing in with a provider) the hash is empty:
    no password matches it until the user sets one through a password reset.
    """
    email = normalise_email(email)
    password_hash = ""
    if password is not None:
        check_password_rules(password)
        # Hashed before the check, so a taken address answers no faster than a free one.
        password_hash = PASSWORDS.hash(password)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("an account with this e-mail already exists", details={"email": email})
    user = User(
        email=email,
        password_hash=password_hash,
        display_name=display_name,
        is_admin=is_admin,
    )
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        # Two registrations of one address raced; the other one won.
        raise Conflict(
            "an account with this e-mail already exists", details={"email": email}
        ) from None
    create_organization(
        session=session,
        name=organization_name or f"{display_name or email.split('@', 1)[0]}'s organization",
        owner_id=user.id,
    )
    return user


def find_user_by_email(*, session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def authenticate(*, session: Session, email: str, password: str) -> User:
    """The user with these credentials; the same error and cost whatever was wrong."""
    user = find_user_by_email(session=session, email=email)
    if user is None:
        PASSWORDS.verify(password, _DUMMY_HASH)
        raise AuthenticationFailed("wrong e-mail or password")
    if not user.password_hash:  # signs in through a provider only, so far
        PASSWORDS.verify(password, _DUMMY_HASH)
        raise AuthenticationFailed("wrong e-mail or password")
    if not PASSWORDS.verify(password, user.password_hash):
        raise AuthenticationFailed("wrong e-mail or password")
    if PASSWORDS.needs_update(user.password_hash):
        user.password_hash = PASSWORDS.hash(password)
    return user


def start_session(
    *,
    session: Session,
    user: User,
    ttl_s: int,
    ip: str | None = None,
    user_agent: str | None = None,
    device: dict[str, str | None] | None = None,
    provider: str | None = None,
) -> tuple[AuthSession, str]:
    """A new login session and its first refresh token (returned once, never stored)."""
    auth_session = AuthSession(
        user_id=user.id,
        provider=provider,
        ip=ip,
        user_agent=(user_agent or "")[:400] or None,
        expires_at=utcnow() + timedelta(seconds=ttl_s),
        **(device or {}),
        **locate(ip).as_dict(),
    )
    session.add(auth_session)
    session.flush()
    return auth_session, _issue_refresh_token(session, auth_session)


def _issue_refresh_token(
    session: Session, auth_session: AuthSession, token: str | None = None
) -> str:
    token = token or secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            user_id=auth_session.user_id,
            session_id=auth_session.id,
            token_hash=digest(token),
            expires_at=auth_session.expires_at,
        )
    )
    session.flush()
    return token


def successor_token(token: str, *, key: str) -> str:
    """The refresh token that rotating `token` issues: derived from it with a server key, so
    the same presentation again can be answered with the same successor without the
    successor ever being stored (only its digest is, like every refresh token's)."""
    mac = hmac.new(key.encode(), b"refresh-successor:" + token.encode(), hashlib.sha256)
    return mac.hexdigest()


def rotate_refresh_token(
    *,
    session: Session,
    token: str,
    ttl_s: int,
    key: str,
    grace_s: int = 0,
    ip: str | None = None,
) -> tuple[User, AuthSession, str]:
    """Trade a refresh token for a new one of the same session.

    A token rotated less than `grace_s` ago is answered with the successor it already got:
    two browser tabs refreshing with the same cookie at once both carry on. A token rotated
    before that is being replayed: someone holds a stolen copy, so the whole session is
    revoked (its access tokens too) and the caller must log in again.
    """
    row = session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == digest(token)).with_for_update()
    )
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise AuthenticationFailed("refresh token is invalid, expired or revoked")
    successor = successor_token(token, key=key)
    if row.rotated_at is not None:
        if row.rotated_at > now - timedelta(seconds=grace_s):
            return _answer_again(session, row, successor)
        revoke_session(session=session, session_id=row.session_id)
        raise AuthenticationFailed("refresh token was already used; its session is revoked")
    auth_session = session.get_one(AuthSession, row.session_id, with_for_update=True)
    if auth_session.revoked_at is not None:
        raise AuthenticationFailed("refresh token is invalid, expired or revoked")
    row.rotated_at = now
    # Sliding expiry: a session in use lives on; one left alone ends after ttl_s.
    auth_session.last_used_at = now
    auth_session.expires_at = now + timedelta(seconds=ttl_s)
    if ip is not None:
        auth_session.ip = ip
    user = session.get_one(User, row.user_id)
    return user, auth_session, _issue_refresh_token(session, auth_session, successor)


def _answer_again(
    session: Session, row: RefreshToken, successor: str
) -> tuple[User, AuthSession, str]:
    """The pair a token rotated within the grace window already got, if it still stands."""
    auth_session = session.get_one(AuthSession, row.session_id)
    issued = session.scalar(
        select(RefreshToken).where(
            RefreshToken.token_hash == digest(successor),
            RefreshToken.session_id == row.session_id,
        )
    )
    if (
        issued is None
        or issued.revoked_at is not None
        or auth_session.revoked_at is not None
        or auth_session.expires_at <= utcnow()
    ):
        raise AuthenticationFailed("refresh token is invalid, expired or revoked")
    return session.get_one(User, row.user_id), auth_session, successor


def revoke_session(*, session: Session, session_id: uuid.UUID) -> None:
    now = utcnow()
    session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.session_id == session_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_all_sessions(*, session: Session, user_id: uuid.UUID) -> int:
    """Log out everywhere: every session of the user ends, with its access tokens."""
    now = utcnow()
    result = session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount  # type: ignore[attr-defined,no-any-return]


def revoke_refresh_token(*, session: Session, token: str, user_id: uuid.UUID) -> None:
    """Log out: end the token's session if it belongs to `user_id` (silently otherwise)."""
    row = session.scalar(
        select(RefreshToken).where(
            RefreshToken.token_hash == digest(token), RefreshToken.user_id == user_id
        )
    )
    if row is not None:
        revoke_session(session=session, session_id=row.session_id)


def refresh_token_session_id(*, session: Session, token: str) -> uuid.UUID | None:
    """The login session a refresh token belongs to (None if it is unknown)."""
    return session.scalar(
        select(RefreshToken.session_id).where(RefreshToken.token_hash == digest(token))
    )


def issue_email_token(
    *,
    session: Session,
    user: User,
    purpose: str,
    ttl_s: int,
    data: dict[str, Any] | None = None,
    replace: bool = True,
) -> str:
    """A new single-use token; with `replace`, the user's unused older ones of the purpose end.

    Flows that anyone can start for an address (password reset, verification) keep the older
    tokens (`replace=False`): otherwise a stranger's request would void the link the owner is
    about to click. Using one token of such a purpose discards the others.
    """
    if replace:
        discard_email_tokens(session=session, user_id=user.id, purposes=(purpose,))
    token = secrets.token_urlsafe(32)
    session.add(
        EmailToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=digest(token),
            data=data,
            expires_at=utcnow() + timedelta(seconds=ttl_s),
        )
    )
    session.flush()
    return token


def discard_email_tokens(
    *, session: Session, user_id: uuid.UUID, purposes: tuple[str, ...]
) -> None:
    """Forget the user's unused tokens of these purposes (used ones stay as a record)."""
    session.execute(
        delete(EmailToken).where(
            EmailToken.user_id == user_id,
            EmailToken.purpose.in_(purposes),
            EmailToken.used_at.is_(None),
        )
    )


def take_email_token(*, session: Session, token: str, purpose: str) -> EmailToken:
    """Use up a single-use token (locked); InvalidInput if it is unknown, used or expired."""
    row = session.scalar(
        select(EmailToken)
        .where(EmailToken.token_hash == digest(token), EmailToken.purpose == purpose)
        .with_for_update()
    )
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise InvalidInput(
            "token is invalid, expired or already used", details={"token": ["invalid"]}
        )
    row.used_at = utcnow()
    return row


def consume_email_token(*, session: Session, token: str, purpose: str) -> User:
    """The user a single-use token was issued to; the token cannot be used again."""
    row = take_email_token(session=session, token=token, purpose=purpose)
    return session.get_one(User, row.user_id)


def verify_email(*, session: Session, token: str) -> User:
    user = consume_email_token(session=session, token=token, purpose="verify_email")
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    discard_email_tokens(session=session, user_id=user.id, purposes=("verify_email",))
    return user
