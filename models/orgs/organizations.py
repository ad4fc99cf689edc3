"""Organisations, their members and roles.

Every job (and every later resource) belongs to an organisation. A user can belong to several;
register creates one the user owns. Roles, from most to least power: owner, admin, member.
An organisation always keeps at least one owner.

Changes to who is in an organisation, and with which role, take a lock on the
organisation's row first and then re-read the acting member: two owners demoting each other
at once, or an admin being demoted while inviting, are decided one after the other on fresh
rows. Invitations live in models/orgs/invitations.py, tiers' quotas in models/core/quotas.py.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Enum, ForeignKey, Index, String, delete, func, select, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column, relationship, selectinload

from models.core.access import Role
from models.core.base import Base, now_ts, uuid_pk
from models.core.errors import Conflict, NotFound, PermissionDenied
from models.core.quotas import Tier, Usage, jobs_per_day

if TYPE_CHECKING:
    from models.accounts import User  # models.accounts.users imports this module

# How many organisations one user may own (each comes with its own free quota).
MAX_OWNED_ORGANIZATIONS = 10


TIER_TYPE = Enum(Tier, name="org_tier", values_callable=lambda e: [m.value for m in e])
ROLE_TYPE = Enum(Role, name="member_role", values_callable=lambda e: [m.value for m in e])


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (
        # The periodic job that ends trials reads organisations with one, nothing else.
        Index(
            "ix_organizations_trial_ends_at",
            "trial_ends_at",
            postgresql_where=text("trial_ends_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid_pk]
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[Tier] = mapped_column(TIER_TYPE, server_default=Tier.FREE.value)
    # The end of the organisation's trial of a paid tier (models/billing.py); None: none.
    trial_ends_at: Mapped[datetime | None]
    created_at: Mapped[now_ts]
    updated_at: Mapped[now_ts] = mapped_column(onupdate=func.now())


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

    user: Mapped[User] = relationship()


class OwnershipLimitReached(Conflict):
    """The user already owns as many organisations as one user may."""

    code = "organization_limit_reached"


@dataclass(frozen=True)
class MyOrganization:
    """An organisation as one of its members sees it: with their role in it."""

    id: uuid.UUID
    name: str
    tier: Tier
    role: Role
    created_at: datetime


# -- organisations ---------------------------------------------------------------------------
def create_organization(
    *, session: Session, name: str, owner_id: uuid.UUID, tier: Tier = Tier.FREE
) -> Organization:
    """A new organisation `owner_id` owns (register makes the first one)."""
    org = Organization(name=name, tier=tier)
    session.add(org)
    session.flush()
    session.add(Membership(org_id=org.id, user_id=owner_id, role=Role.OWNER))
    session.flush()
    return org


def create_owned_organization(*, session: Session, name: str, owner_id: uuid.UUID) -> Organization:
    """A further organisation the user owns, up to MAX_OWNED_ORGANIZATIONS."""
    # Per-user lock for this transaction: parallel creates cannot all pass the count.
    session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(str(owner_id), 0))))
    owned = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.user_id == owner_id, Membership.role == Role.OWNER)
    )
    if (owned or 0) >= MAX_OWNED_ORGANIZATIONS:
        raise OwnershipLimitReached(
            f"you already own {MAX_OWNED_ORGANIZATIONS} organizations, the most one user may; "
            "delete or hand one over first",
            details={"limit": MAX_OWNED_ORGANIZATIONS},
        )
    return create_organization(session=session, name=name, owner_id=owner_id)


def organizations_of(*, session: Session, user_id: uuid.UUID) -> list[MyOrganization]:
    """The organisations the user belongs to, the first joined first, with their role."""
    rows = session.execute(
        select(Organization, Membership.role)
        .join(Membership, Membership.org_id == Organization.id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.created_at, Membership.org_id)
    )
    return [_as_member_sees(org, role) for org, role in rows]


def organization_for(*, session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> MyOrganization:
    """One organisation of the user's (NotFound if they are not in it)."""
    member = get_membership(session=session, org_id=org_id, user_id=user_id)
    return _as_member_sees(session.get_one(Organization, org_id), member.role)


def rename_organization(
    *, session: Session, org_id: uuid.UUID, actor_id: uuid.UUID, name: str
) -> MyOrganization:
    """Owners and admins rename their organisation."""
    actor = acting_member(session=session, org_id=org_id, user_id=actor_id)
    require_role(actor, Role.ADMIN)
    org = session.get_one(Organization, org_id)
    org.name = name
    session.flush()
    return _as_member_sees(org, actor.role)


def _as_member_sees(org: Organization, role: Role) -> MyOrganization:
    return MyOrganization(
        id=org.id, name=org.name, tier=org.tier, role=role, created_at=org.created_at
    )


# -- members ---------------------------------------------------------------------------------
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


def acting_member(*, session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> Membership:
    """The caller's membership, re-read under the organisation's lock, for a change.

    NotFound before anything is locked if the caller is not a member. Every change of
    members, roles or invitations goes through here, so they happen one at a time per
    organisation and each judges the roles as they are now. FOR NO KEY UPDATE does not block
    inserts that merely reference the organisation (jobs, usage rows).
    """
    get_membership(session=session, org_id=org_id, user_id=user_id)
    lock_organization(session=session, org_id=org_id)
    return _fresh_membership(session, org_id, user_id)


def lock_organization(*, session: Session, org_id: uuid.UUID) -> None:
    """Take the organisation's lock for this transaction: taken first, before any row of its
    members or invitations, so two changes never wait on each other crosswise."""
    session.execute(
        select(Organization.id).where(Organization.id == org_id).with_for_update(key_share=True)
    )


def _fresh_membership(session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> Membership:
    found = session.scalar(
        select(Membership)
        .where(Membership.org_id == org_id, Membership.user_id == user_id)
        .execution_options(populate_existing=True)
    )
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


def _member_not_found(user_id: uuid.UUID) -> NotFound:
    return NotFound("member not found", details={"user_id": str(user_id)})


def _target(session: Session, actor: Membership, user_id: uuid.UUID) -> Membership:
    if user_id == actor.user_id:
        return actor
    try:
        return _fresh_membership(session, actor.org_id, user_id)
    except NotFound:
        raise _member_not_found(user_id) from None


def list_members(*, session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> list[Membership]:
    """Everyone in the organisation (any member may look), the first joined first."""
    get_membership(session=session, org_id=org_id, user_id=user_id)
    return list(
        session.scalars(
            select(Membership)
            .where(Membership.org_id == org_id)
            .options(selectinload(Membership.user))
            .order_by(Membership.created_at, Membership.user_id)
        )
    )


def change_role(
    *, session: Session, org_id: uuid.UUID, actor_id: uuid.UUID, user_id: uuid.UUID, role: Role
) -> Membership:
    """Owners change anyone's role; admins may move people between member and admin."""
    actor = acting_member(session=session, org_id=org_id, user_id=actor_id)
    require_role(actor, Role.ADMIN)
    target = _target(session, actor, user_id)
    if target.role == Role.OWNER or role == Role.OWNER:
        require_role(actor, Role.OWNER)
    if role != Role.OWNER:
        _keep_an_owner(session, target)
    target.role = role
    session.flush()
    return target


def remove_member(
    *, session: Session, org_id: uuid.UUID, actor_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Remove someone (owners and admins), or leave (anyone). Admins cannot remove owners."""
    actor = acting_member(session=session, org_id=org_id, user_id=actor_id)
    target = _target(session, actor, user_id)
    if target is not actor:
        require_role(actor, Role.ADMIN)
        require_role(actor, target.role)  # only owners remove owners
    _keep_an_owner(session, target)
    session.delete(target)
    session.flush()


def join(*, session: Session, org_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> Membership:
    """Add the user with `role`, or raise the role of a member who has less (never lowers)."""
    lock_organization(session=session, org_id=org_id)
    existing = membership(session=session, org_id=org_id, user_id=user_id)
    if existing is not None:
        if role.rank > existing.role.rank:
            existing.role = role
            session.flush()
        return existing
    joined = Membership(org_id=org_id, user_id=user_id, role=role)
    session.add(joined)
    session.flush()
    return joined


def usage_today(*, session: Session, org_id: uuid.UUID, member_id: uuid.UUID) -> Usage:
    """The organisation's tier, its daily job limit and how much of it is used (members)."""
    get_membership(session=session, org_id=org_id, user_id=member_id)
    org = session.get_one(Organization, org_id)
    return Usage(
        tier=org.tier,
        jobs_per_day=jobs_per_day(session=session, org_id=org_id, tier=org.tier),
        trial_ends_at=org.trial_ends_at,
    )


# -- a member leaving for good -----------------------------------------------------------
@dataclass(frozen=True)
class SoleOwnerships:
    """The organisations a user is the only owner of: with other members (to hand over
    first) and without (deleted with the account, once the user confirms)."""

    shared: list[uuid.UUID]
    alone: list[uuid.UUID]


def sole_ownerships(*, session: Session, user_id: uuid.UUID) -> SoleOwnerships:
    other = aliased(Membership)
    owners = (
        select(func.count())
        .where(other.org_id == Membership.org_id, other.role == Role.OWNER)
        .scalar_subquery()
    )
    members = select(func.count()).where(other.org_id == Membership.org_id).scalar_subquery()
    rows = session.execute(
        select(Membership.org_id, members)
        .where(Membership.user_id == user_id, Membership.role == Role.OWNER, owners == 1)
        .order_by(Membership.org_id)
    ).all()
    return SoleOwnerships(
        shared=[org_id for org_id, count in rows if count > 1],
        alone=[org_id for org_id, count in rows if count == 1],
    )


def delete_organization(*, session: Session, org_id: uuid.UUID) -> None:
    """Delete an organisation with everything that belongs to it (cascading by foreign key)."""
    session.execute(delete(Organization).where(Organization.id == org_id))
