"""Signing in with a provider (Google): the pending sign-ins and the identities linked to
accounts, and the rules that keep an account from being taken over through one.

An identity is found by the provider's subject, never by address alone. A new subject whose
address an account already has is linked only when the provider says the address is verified
AND the account's owner confirms with their password (a single-use link token, mailed to no
one: the answer carries it). A new subject with a verified address no account has makes an
account without a password. An unverified address is never trusted. Each sign-in's `state`,
`nonce` and PKCE verifier are stored (state as a digest) and used once.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    delete,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.accounts.flows import check_password
from models.accounts.users import (
    User,
    create_user,
    digest,
    find_user_by_email,
    issue_email_token,
    take_email_token,
    utcnow,
)
from models.core.base import Base, now_ts, timestamp, uuid_pk
from models.core.errors import AuthenticationFailed, Conflict, NotFound, PermissionDenied

LINK_PURPOSE = "provider_link"


class ProviderIdentity(Base):
    """An account's identity at a provider: its subject there (stable, unlike addresses)."""

    __tablename__ = "provider_identities"
    __table_args__ = (
        UniqueConstraint("provider", "subject", name="uq_provider_identities_subject"),
        Index("ix_provider_identities_user_id", "user_id"),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    provider: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[now_ts]


class ProviderSignIn(Base):
    """A sign-in sent to a provider and not yet back: what its answer must match."""

    __tablename__ = "provider_sign_ins"
    __table_args__ = (
        Index("ix_provider_sign_ins_expires_at", "expires_at"),
        Index("ix_provider_sign_ins_link_user_id", "link_user_id"),
    )

    id: Mapped[uuid_pk]
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(20))
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    # Set when a signed-in user links the provider to their account.
    link_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    use_cookies: Mapped[bool] = mapped_column(Boolean, server_default="false")
    expires_at: Mapped[timestamp]
    used_at: Mapped[timestamp | None]


@dataclass(frozen=True)
class Pending:
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class Verified:
    """What the provider vouched for (the ID token's checked claims)."""

    provider: str
    subject: str
    email: str | None
    email_verified: bool


class LinkNeedsPassword(Conflict):
    """An account has the provider's (verified) address: its owner confirms with the password."""

    code = "link_needs_password"


class UnverifiedProviderAddress(PermissionDenied):
    """The provider has not verified the address it gave: it cannot name an account."""

    code = "provider_address_unverified"


def begin(
    *,
    session: Session,
    provider: str,
    ttl_s: int,
    link_user_id: uuid.UUID | None,
    use_cookies: bool,
) -> Pending:
    pending = Pending(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),
    )
    session.add(
        ProviderSignIn(
            state_hash=digest(pending.state),
            provider=provider,
            nonce=pending.nonce,
            code_verifier=pending.code_verifier,
            link_user_id=link_user_id,
            use_cookies=use_cookies,
            expires_at=utcnow() + timedelta(seconds=ttl_s),
        )
    )
    session.flush()
    return pending


def take(*, session: Session, provider: str, state: str) -> ProviderSignIn:
    """The pending sign-in `state` names, used up; AuthenticationFailed if there is none."""
    row = session.scalar(
        select(ProviderSignIn)
        .where(ProviderSignIn.state_hash == digest(state), ProviderSignIn.provider == provider)
        .with_for_update()
    )
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise AuthenticationFailed("this sign-in is unknown, expired or already finished")
    row.used_at = utcnow()
    return row


def _find(session: Session, provider: str, subject: str) -> ProviderIdentity | None:
    return session.scalar(
        select(ProviderIdentity).where(
            ProviderIdentity.provider == provider, ProviderIdentity.subject == subject
        )
    )


def _attach(session: Session, user: User, who: Verified) -> None:
    session.add(
        ProviderIdentity(
            user_id=user.id, provider=who.provider, subject=who.subject, email=who.email
        )
    )
    session.flush()


def resolve(
    *, session: Session, who: Verified, link_user_id: uuid.UUID | None, link_ttl_s: int
) -> tuple[User, bool]:
    """The account this provider sign-in is for (made or linked when the rules allow), and
    whether it was made now (its organisation then starts its trial, as a registration's
    does)."""
    known = _find(session, who.provider, who.subject)
    if link_user_id is not None:
        if known is not None and known.user_id != link_user_id:
            raise Conflict(
                f"this {who.provider} account is already linked to another Backline account"
            )
        user = session.get_one(User, link_user_id)
        if known is None:
            _attach(session, user, who)
        return user, False
    if known is not None:
        return session.get_one(User, known.user_id), False
    if not who.email or not who.email_verified:
        raise UnverifiedProviderAddress(
            f"{who.provider} has not verified this account's address; verify it there, or "
            "log in with your password and link the provider from your account"
        )
    existing = find_user_by_email(session=session, email=who.email)
    if existing is not None:
        token = issue_email_token(
            session=session,
            user=existing,
            purpose=LINK_PURPOSE,
            ttl_s=link_ttl_s,
            data={"provider": who.provider, "subject": who.subject, "email": who.email},
        )
        raise LinkNeedsPassword(
            "an account already has this address: confirm with its password to link "
            f"{who.provider} to it (POST the token and password to /auth/providers/confirm-link)",
            details={"link_token": token},
        )
    user = create_user(session=session, email=who.email, password=None)
    user.email_verified_at = utcnow()
    _attach(session, user, who)
    return user, True


def confirm_link(*, session: Session, token: str, password: str) -> tuple[User, str]:
    """The account the link token is for, once its password is confirmed, and the provider
    now linked to it."""
    row = take_email_token(session=session, token=token, purpose=LINK_PURPOSE)
    user = session.get_one(User, row.user_id)
    check_password(user, password)
    data: dict[str, Any] = row.data or {}
    who = Verified(data["provider"], data["subject"], data.get("email"), True)
    if _find(session, who.provider, who.subject) is None:
        _attach(session, user, who)
    return user, who.provider


def identities_of(*, session: Session, user_id: uuid.UUID) -> Sequence[ProviderIdentity]:
    return session.scalars(
        select(ProviderIdentity)
        .where(ProviderIdentity.user_id == user_id)
        .order_by(ProviderIdentity.created_at)
    ).all()


def unlink(*, session: Session, user: User, identity_id: uuid.UUID) -> None:
    """Remove a provider from the account, unless it is the last way to log in."""
    session.execute(select(User.id).where(User.id == user.id).with_for_update())
    mine = identities_of(session=session, user_id=user.id)
    target = next((i for i in mine if i.id == identity_id), None)
    if target is None:
        raise NotFound("identity not found", details={"identity_id": str(identity_id)})
    if not user.has_password and len(mine) == 1:
        raise Conflict(
            "this is your only way to log in: set a password (password reset) or link "
            "another provider first"
        )
    session.delete(target)
    session.flush()


def prune_sign_ins(*, session: Session) -> int:
    """Forget sign-ins that expired (the index on expires_at finds them)."""
    result = session.execute(delete(ProviderSignIn).where(ProviderSignIn.expires_at < func.now()))
    return result.rowcount  # type: ignore[attr-defined,no-any-return]
