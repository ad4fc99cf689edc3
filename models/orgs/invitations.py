"""Invitations to join an organisation, by e-mail, with a single-use token.

The token is mailed once and only its SHA-256 digest is stored. Accepting needs the token
*and* an account with the address the invitation was sent to, so a forwarded or leaked token
is no use to anyone else.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from sqlalchemy import ColumnElement, ForeignKey, Index, String, func, select, text, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.accounts import User
from models.core.access import Role
from models.core.addresses import normalise_email
from models.core.base import Base, digest, now_ts, timestamp, utcnow, uuid_pk
from models.core.errors import Conflict, EmailNotVerified, InvalidInput, LimitReached, NotFound
from models.orgs.organizations import (
    ROLE_TYPE,
    Membership,
    acting_member,
    get_membership,
    join,
    lock_organization,
    membership,
    require_role,
)

# Invitations an organisation may send in 24 hours: each is a mail to an address someone
# typed in, so the platform must not become a way to mail strangers in bulk.
MAX_INVITATIONS_PER_DAY = 50
_WINDOW = timedelta(hours=24)


class Invitation(Base):
    """An invitation by e-mail to join an organisation; the token is mailed, stored hashed."""

    __tablename__ = "invitations"
    __table_args__ = (
        # A leaving user's invitations (models/orgs/people.py).
        Index("ix_invitations_email", "email"),
        Index("ix_invitations_invited_by", "invited_by"),
        # One open invitation per address and organisation.
        Index(
            "uq_invitations_open",
            "org_id",
            "email",
            unique=True,
            postgresql_where=text("accepted_at IS NULL AND revoked_at IS NULL"),
        ),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[Role] = mapped_column(ROLE_TYPE)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    expires_at: Mapped[timestamp]
    accepted_at: Mapped[timestamp | None]
    revoked_at: Mapped[timestamp | None]
    created_at: Mapped[now_ts]


def _open() -> tuple[ColumnElement[bool], ...]:
    return (Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))


def invite(
    *,
    session: Session,
    org_id: uuid.UUID,
    actor_id: uuid.UUID,
    email: str,
    role: Role,
    ttl_s: int,
) -> tuple[Invitation, str]:
    """A new invitation (replacing an open one to the same address) and its mailed token.

    Owners and admins invite; only owners invite owners. Someone already in the organisation
    is not invited again (change their role instead). The inviter's own address must be
    confirmed: invitations are mail to addresses someone typed in.
    """
    actor = acting_member(session=session, org_id=org_id, user_id=actor_id)
    require_role(actor, Role.ADMIN)
    require_role(actor, role)
    if session.get_one(User, actor_id).email_verified_at is None:
        raise EmailNotVerified(
            "confirm your e-mail address before inviting anyone", details={"email": ["unverified"]}
        )
    email = normalise_email(email)
    _refuse_members(session, org_id, email)
    _throttle(session, org_id)
    session.execute(
        update(Invitation)
        .where(Invitation.org_id == org_id, Invitation.email == email, *_open())
        .values(revoked_at=utcnow())
    )
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        org_id=org_id,
        email=email,
        role=role,
        token_hash=digest(token),
        invited_by=actor_id,
        expires_at=utcnow() + timedelta(seconds=ttl_s),
    )
    session.add(invitation)
    session.flush()
    return invitation, token


def _refuse_members(session: Session, org_id: uuid.UUID, email: str) -> None:
    member = session.scalar(
        select(Membership.user_id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.org_id == org_id, User.email == email)
    )
    if member is not None:
        raise Conflict(
            "this address belongs to a member already; change their role instead",
            details={"user_id": str(member)},
        )


def _throttle(session: Session, org_id: uuid.UUID) -> None:
    since = utcnow() - _WINDOW
    sent, oldest = session.execute(
        select(func.count(), func.min(Invitation.created_at)).where(
            Invitation.org_id == org_id, Invitation.created_at > since
        )
    ).one()
    if sent >= MAX_INVITATIONS_PER_DAY:
        raise LimitReached(
            f"an organization may send {MAX_INVITATIONS_PER_DAY} invitations a day",
            retry_after_s=int((oldest + _WINDOW - utcnow()).total_seconds()) + 1,
            details={"limit": MAX_INVITATIONS_PER_DAY},
        )


def open_invitations(
    *, session: Session, org_id: uuid.UUID, actor_id: uuid.UUID
) -> list[Invitation]:
    """The invitations not yet accepted, revoked or expired (owners and admins), newest first."""
    actor = get_membership(session=session, org_id=org_id, user_id=actor_id)
    require_role(actor, Role.ADMIN)
    return list(
        session.scalars(
            select(Invitation)
            .where(Invitation.org_id == org_id, *_open(), Invitation.expires_at > utcnow())
            .order_by(Invitation.created_at.desc(), Invitation.id)
        )
    )


def revoke_invitation(
    *, session: Session, org_id: uuid.UUID, actor_id: uuid.UUID, invitation_id: uuid.UUID
) -> None:
    """Withdraw an open invitation (owners and admins); its token stops working."""
    actor = acting_member(session=session, org_id=org_id, user_id=actor_id)
    require_role(actor, Role.ADMIN)
    revoked = session.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id, Invitation.org_id == org_id, *_open())
        .values(revoked_at=utcnow())
        .returning(Invitation.id)
    ).first()
    if revoked is None:
        raise NotFound(
            "no open invitation with this id", details={"invitation_id": str(invitation_id)}
        )


def accept_invitation(
    *, session: Session, token: str, user_id: uuid.UUID, user_email: str
) -> Membership:
    """Join the organisation an invitation is for; it must be addressed to the user's e-mail.

    A member who already has a role keeps the higher of the two.
    """
    invitation = _locked_by_token(session, token)
    now = utcnow()
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= now
        or invitation.email != normalise_email(user_email)
        or not _inviter_may_still_invite(session, invitation)
    ):
        # One answer for every reason: a token for someone else's address reveals nothing.
        raise InvalidInput(
            "invitation is invalid, expired, already used or not addressed to you",
            details={"fields": {"token": ["invalid"]}},
        )
    invitation.accepted_at = now
    return join(session=session, org_id=invitation.org_id, user_id=user_id, role=invitation.role)


def _inviter_may_still_invite(session: Session, invitation: Invitation) -> bool:
    """An invitation is only as good as its sender's standing: someone removed or demoted
    since must not be able to walk back in (or let a friend in) with one sent earlier."""
    if invitation.invited_by is None:
        return False
    inviter = membership(session=session, org_id=invitation.org_id, user_id=invitation.invited_by)
    needed = Role.OWNER if invitation.role == Role.OWNER else Role.ADMIN
    return inviter is not None and inviter.role.rank >= needed.rank


def _locked_by_token(session: Session, token: str) -> Invitation | None:
    """The invitation with this token, locked after its organisation (the order invite and
    revoke take them in, so an accept racing a re-invite cannot deadlock)."""
    found = session.scalar(select(Invitation.org_id).where(Invitation.token_hash == digest(token)))
    if found is None:
        return None
    lock_organization(session=session, org_id=found)
    return session.scalar(
        select(Invitation)
        .where(Invitation.token_hash == digest(token))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
