"""Organisations, their members and roles, invitations, subscription tiers and job quotas.

Every job (and every later resource) belongs to an organisation. A user can belong to several;
register creates one the user owns. Roles, from most to least power: owner, admin, member.
An organisation always keeps at least one owner.
"""

from __future__ import annotations

import enum
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import (
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.addresses import normalise_email
from models.base import Base, digest, now_ts, timestamp, utcnow, uuid_pk
from models.errors import Conflict, InvalidInput, LimitReached, NotFound, PermissionDenied


class Tier(enum.StrEnum):
    FREE = "free"
    CREATOR = "creator"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"

    @property
    def rank(self) -> int:
        return {Role.OWNER: 3, Role.ADMIN: 2, Role.MEMBER: 1}[self]

    @property
    def manages(self) -> bool:
        """Owners and admins manage members, invitations and everyone's jobs."""
        return self.rank >= Role.ADMIN.rank


@dataclass(frozen=True)
class Quota:
    jobs_per_day: int | None  # None: unlimited


# Jobs an organisation may submit per UTC day. Diagnostic kinds and the platform's own mails
# do not count (see workers/registry.py, `counts_toward_quota`).
QUOTAS: dict[Tier, Quota] = {
    Tier.FREE: Quota(jobs_per_day=100),
    Tier.CREATOR: Quota(jobs_per_day=1_000),
    Tier.PROFESSIONAL: Quota(jobs_per_day=10_000),
    Tier.ENTERPRISE: Quota(jobs_per_day=None),
}

TIER_TYPE = Enum(Tier, name="org_tier", values_callable=lambda e: [m.value for m in e])
ROLE_TYPE = Enum(Role, name="member_role", values_callable=lambda e: [m.value for m in e])


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[uuid_pk]
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[Tier] = mapped_column(TIER_TYPE, server_default=Tier.FREE.value)
    created_at: Mapped[now_ts]
    updated_at: Mapped[now_ts] = mapped_column(onupdate=func.now())

    @property
    def quota(self) -> Quota:
        return QUOTAS[self.tier]


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (Index("ix_memberships_user_id", "user_id", "created_at"),)

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(ROLE_TYPE)
    created_at: Mapped[now_ts]


class Invitation(Base):
    """An invitation by e-mail to join an organisation; the token is mailed, stored hashed."""

    __tablename__ = "invitations"
    __table_args__ = (
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


class OrgUsage(Base):
    """Jobs an organisation submitted on one UTC day (the quota counter)."""

    __tablename__ = "org_usage"

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    jobs: Mapped[int] = mapped_column(Integer, server_default="0")


class QuotaExceeded(LimitReached):
    """The organisation used up a quota of its tier."""

    code = "quota_exceeded"

    def __init__(self, *, quota: str, limit: int, used: int, tier: Tier, resets_at: datetime):
        super().__init__(
            f"your organization's {tier.value} plan allows {limit} jobs per day; "
            f"the quota resets at {resets_at.isoformat()}",
            retry_after_s=int((resets_at - utcnow()).total_seconds()) + 1,
            details={
                "quota": quota,
                "limit": limit,
                "used": used,
                "tier": tier.value,
                "resets_at": resets_at.isoformat(),
            },
        )


# -- organisations and members ---------------------------------------------------------------
def create_organization(
    *, session: Session, name: str, owner_id: uuid.UUID, tier: Tier = Tier.FREE
) -> Organization:
    org = Organization(name=name, tier=tier)
    session.add(org)
    session.flush()
    session.add(Membership(org_id=org.id, user_id=owner_id, role=Role.OWNER))
    session.flush()
    return org


def primary_org_id(*, session: Session, user_id: uuid.UUID) -> uuid.UUID | None:
    """The first organisation the user joined (for most users, the one register made)."""
    return session.scalar(
        select(Membership.org_id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.created_at, Membership.org_id)
        .limit(1)
    )


def membership(*, session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
    return session.get(Membership, (org_id, user_id))


def get_membership(*, session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> Membership:
    """The caller's membership; an organisation they are not in does not exist for them."""
    found = membership(session=session, org_id=org_id, user_id=user_id)
    if found is None:
        raise NotFound("organization not found", details={"organization_id": str(org_id)})
    return found


def require_role(member: Membership, role: Role) -> None:
    if member.role.rank < role.rank:
        raise PermissionDenied(
            f"this needs the {role.value} role in the organization; you are {member.role.value}",
            details={"required_role": role.value, "role": member.role.value},
        )


def owner_count(*, session: Session, org_id: uuid.UUID) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.org_id == org_id, Membership.role == Role.OWNER)
        )
        or 0
    )


def _keep_an_owner(session: Session, target: Membership) -> None:
    if target.role == Role.OWNER and owner_count(session=session, org_id=target.org_id) <= 1:
        raise Conflict(
            "an organization needs at least one owner; make someone else owner first",
            details={"user_id": str(target.user_id)},
        )


def change_role(
    *, session: Session, actor: Membership, user_id: uuid.UUID, role: Role
) -> Membership:
    """Owners change anyone's role; admins may move people between member and admin."""
    require_role(actor, Role.ADMIN)
    target = get_membership(session=session, org_id=actor.org_id, user_id=user_id)
    if actor.role != Role.OWNER and (target.role == Role.OWNER or role == Role.OWNER):
        require_role(actor, Role.OWNER)
    if role != Role.OWNER:
        session.execute(
            select(Membership.user_id)
            .where(Membership.org_id == actor.org_id, Membership.role == Role.OWNER)
            .with_for_update()
        )  # two owners demoting each other at once must not leave none
        _keep_an_owner(session, target)
    target.role = role
    session.flush()
    return target


def remove_member(*, session: Session, actor: Membership, user_id: uuid.UUID) -> None:
    """Remove someone (owners and admins), or leave (anyone). Admins cannot remove owners."""
    target = get_membership(session=session, org_id=actor.org_id, user_id=user_id)
    if target.user_id != actor.user_id:
        require_role(actor, Role.ADMIN)
        if target.role.rank > actor.role.rank:
            require_role(actor, target.role)
    session.execute(
        select(Membership.user_id)
        .where(Membership.org_id == actor.org_id, Membership.role == Role.OWNER)
        .with_for_update()
    )
    _keep_an_owner(session, target)
    session.delete(target)
    session.flush()


# -- invitations -----------------------------------------------------------------------------
def invite(
    *,
    session: Session,
    actor: Membership,
    email: str,
    role: Role,
    ttl_s: int,
) -> tuple[Invitation, str]:
    """A new invitation (replacing an open one to the same address) and its mailed token."""
    require_role(actor, Role.ADMIN)
    if role == Role.OWNER:
        require_role(actor, Role.OWNER)
    email = normalise_email(email)
    session.execute(
        update(Invitation)
        .where(
            Invitation.org_id == actor.org_id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        org_id=actor.org_id,
        email=email,
        role=role,
        token_hash=digest(token),
        invited_by=actor.user_id,
        expires_at=utcnow() + timedelta(seconds=ttl_s),
    )
    session.add(invitation)
    session.flush()
    return invitation, token


def accept_invitation(
    *, session: Session, token: str, user_id: uuid.UUID, user_email: str
) -> Membership:
    """Join the organisation an invitation is for; it must be addressed to the user's e-mail."""
    invitation = session.scalar(
        select(Invitation).where(Invitation.token_hash == digest(token)).with_for_update()
    )
    now = utcnow()
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= now
        or invitation.email != user_email
    ):
        # One answer for every reason: a token for someone else's address reveals nothing.
        raise InvalidInput(
            "invitation is invalid, expired, already used or not addressed to you",
            details={"token": ["invalid"]},
        )
    invitation.accepted_at = now
    existing = membership(session=session, org_id=invitation.org_id, user_id=user_id)
    if existing is not None:
        if invitation.role.rank > existing.role.rank:
            existing.role = invitation.role
        session.flush()
        return existing
    joined = Membership(org_id=invitation.org_id, user_id=user_id, role=invitation.role)
    session.add(joined)
    session.flush()
    return joined


# -- quotas ----------------------------------------------------------------------------------
def quota_day(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(UTC).date()


def quota_resets_at(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def jobs_used_today(*, session: Session, org_id: uuid.UUID) -> int:
    return (
        session.scalar(
            select(OrgUsage.jobs).where(OrgUsage.org_id == org_id, OrgUsage.day == quota_day())
        )
        or 0
    )


def consume_job_quota(*, session: Session, org_id: uuid.UUID, count: int = 1) -> None:
    """Count `count` new jobs against the organisation's daily quota, or refuse them.

    The counter row is locked until the caller's transaction ends, so concurrent submits of
    one organisation cannot together overshoot; a refused submit is rolled back with its jobs.
    """
    tier = session.scalar(select(Organization.tier).where(Organization.id == org_id))
    if tier is None:
        raise NotFound("organization not found", details={"organization_id": str(org_id)})
    limit = QUOTAS[tier].jobs_per_day
    if limit is None:
        return
    day = quota_day()
    stmt = insert(OrgUsage).values(org_id=org_id, day=day, jobs=count)
    used = session.scalar(
        stmt.on_conflict_do_update(
            index_elements=[OrgUsage.org_id, OrgUsage.day],
            set_={"jobs": OrgUsage.jobs + stmt.excluded.jobs},
        ).returning(OrgUsage.jobs)
    )
    assert used is not None  # noqa: S101 - RETURNING of an upsert always has a row
    if used > limit:
        raise QuotaExceeded(
            quota="jobs_per_day",
            limit=limit,
            used=used - count,
            tier=tier,
            resets_at=quota_resets_at(day),
        )
