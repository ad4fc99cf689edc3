"""Users, their refresh tokens and e-mail tokens, and the rules for them.

Passwords are hashed with argon2 through passlib's CryptContext. Refresh tokens and e-mail
tokens are random strings given to the user once; only their SHA-256 digests are stored, so a
database leak does not leak usable tokens.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from passlib.context import CryptContext
from sqlalchemy import Boolean, ForeignKey, String, Text, func, select, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, now_ts, timestamp, uuid_pk
from models.errors import AuthenticationFailed, Conflict, InvalidInput

PASSWORDS = CryptContext(schemes=["argon2"], deprecated="auto")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
# Verified against when the e-mail is unknown, so a login for a missing account costs the
# same time as one for an existing account (no user enumeration by timing).
_DUMMY_HASH = PASSWORDS.hash("backline-dummy-password")


def utcnow() -> datetime:
    return datetime.now(UTC)


def digest(token: str) -> str:
    """The stored form of a token handed to a user."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


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


class RefreshToken(Base):
    """One refresh token; tokens rotated from one login share a family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[timestamp]
    revoked_at: Mapped[timestamp | None]
    rotated_at: Mapped[timestamp | None]
    user_agent: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[now_ts]


class EmailToken(Base):
    """A single-use token mailed to a user (e-mail verification, later password reset)."""

    __tablename__ = "email_tokens"

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
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
    password: str,
    display_name: str | None = None,
    is_admin: bool = False,
) -> User:
    """Add a user; the e-mail must not be taken."""
    check_password_rules(password)
    email = normalise_email(email)
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
    return user


def find_user_by_email(*, session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def authenticate(*, session: Session, email: str, password: str) -> User:
    """The user with these credentials; the same error and cost whatever was wrong."""
    user = find_user_by_email(session=session, email=email)
    if user is None:
        PASSWORDS.verify(password, _DUMMY_HASH)
        raise AuthenticationFailed("wrong e-mail or password")
    if not PASSWORDS.verify(password, user.password_hash):
        raise AuthenticationFailed("wrong e-mail or password")
    if PASSWORDS.needs_update(user.password_hash):
        user.password_hash = PASSWORDS.hash(password)
    return user


def issue_refresh_token(
    *,
    session: Session,
    user: User,
    ttl_s: int,
    family_id: uuid.UUID | None = None,
    user_agent: str | None = None,
) -> str:
    """A new refresh token for `user`; the returned string is never stored."""
    token = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id or uuid.uuid4(),
            token_hash=digest(token),
            expires_at=utcnow() + timedelta(seconds=ttl_s),
            user_agent=(user_agent or "")[:400] or None,
        )
    )
    session.flush()
    return token


def rotate_refresh_token(
    *, session: Session, token: str, ttl_s: int, user_agent: str | None = None
) -> tuple[User, str]:
    """Trade a refresh token for a new one of the same family.

    A token that was already rotated is being replayed: someone holds a stolen copy, so the
    whole family is revoked and the caller must log in again.
    """
    row = session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == digest(token)).with_for_update()
    )
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise AuthenticationFailed("refresh token is invalid, expired or revoked")
    if row.rotated_at is not None:
        revoke_family(session=session, family_id=row.family_id)
        raise AuthenticationFailed("refresh token was already used; all sessions of it revoked")
    row.rotated_at = now
    user = session.get_one(User, row.user_id)
    new_token = issue_refresh_token(
        session=session, user=user, ttl_s=ttl_s, family_id=row.family_id, user_agent=user_agent
    )
    return user, new_token


def revoke_family(*, session: Session, family_id: uuid.UUID) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_refresh_token(*, session: Session, token: str, user_id: uuid.UUID) -> None:
    """Log out: revoke the token's family if it belongs to `user_id` (silently otherwise)."""
    row = session.scalar(
        select(RefreshToken).where(
            RefreshToken.token_hash == digest(token), RefreshToken.user_id == user_id
        )
    )
    if row is not None:
        revoke_family(session=session, family_id=row.family_id)


def issue_email_token(*, session: Session, user: User, purpose: str, ttl_s: int) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        EmailToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=digest(token),
            expires_at=utcnow() + timedelta(seconds=ttl_s),
        )
    )
    session.flush()
    return token


def consume_email_token(*, session: Session, token: str, purpose: str) -> User:
    """The user a single-use token was issued to; the token cannot be used again."""
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
    return session.get_one(User, row.user_id)


def verify_email(*, session: Session, token: str) -> User:
    user = consume_email_token(session=session, token=token, purpose="verify_email")
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    return user
