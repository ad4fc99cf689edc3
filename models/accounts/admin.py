"""What platform admins (operators) do with accounts and organisations across tenants.

Nothing here checks who asks: the web layer lets platform admins only.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.accounts.users import User
from models.core import ops
from models.core.errors import NotFound, PermissionDenied
from models.core.pages import newest_first
from models.core.quotas import Tier
from models.orgs import Membership, Organization


def _contains(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_users(
    *, session: Session, q: str | None, cursor: str | None, limit: int
) -> tuple[list[User], str | None]:
    """Users, newest first; `q` matches part of the e-mail address or display name."""
    query = select(User)
    if q:
        pattern = _contains(q)
        query = query.where(
            User.email.ilike(pattern, escape="\\") | User.display_name.ilike(pattern, escape="\\")
        )
    return newest_first(
        session=session,
        query=query,
        created_at=User.created_at,
        row_id=User.id,
        cursor=cursor,
        limit=limit,
    )


def search_organizations(
    *, session: Session, q: str | None, cursor: str | None, limit: int
) -> tuple[list[Organization], str | None]:
    """Organisations, newest first; `q` matches part of the name."""
    query = select(Organization)
    if q:
        query = query.where(Organization.name.ilike(_contains(q), escape="\\"))
    return newest_first(
        session=session,
        query=query,
        created_at=Organization.created_at,
        row_id=Organization.id,
        cursor=cursor,
        limit=limit,
    )


def member_counts(*, session: Session, org_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = session.execute(
        select(Membership.org_id, func.count())
        .where(Membership.org_id.in_(org_ids))
        .group_by(Membership.org_id)
    )
    return {org_id: count for org_id, count in rows}


def set_tier(
    *, session: Session, actor_id: uuid.UUID, org_id: uuid.UUID, tier: Tier
) -> Organization:
    """Move an organisation to another subscription tier (its quotas change at once); the
    change is in the operators' audit log."""
    org = session.get(Organization, org_id, with_for_update=True)
    if org is None:
        raise NotFound("organization not found", details={"organization_id": str(org_id)})
    previous = org.tier
    org.tier = tier
    session.flush()
    ops.record(
        session=session,
        actor_id=actor_id,
        action=ops.OpsAction.SET_TIER,
        target=f"org:{org_id}",
        details={"from": previous.value, "to": tier.value},
    )
    return org


def set_platform_admin(
    *, session: Session, actor_id: uuid.UUID, user_id: uuid.UUID, is_admin: bool
) -> User:
    """Grant or withdraw platform admin rights; nobody withdraws their own.

    Both rows are locked in id order, and the actor is re-checked under the lock: two admins
    withdrawing each other's rights at once cannot leave the platform without one.
    """
    if user_id == actor_id and not is_admin:
        raise PermissionDenied(
            "you cannot remove your own admin rights; ask another platform admin"
        )
    locked = {
        user.id: user
        for user in session.scalars(
            select(User)
            .where(User.id.in_({actor_id, user_id}))
            .order_by(User.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    actor, target = locked.get(actor_id), locked.get(user_id)
    if actor is None or not actor.is_admin:
        raise PermissionDenied("platform admins only")
    if target is None:
        raise NotFound("user not found", details={"user_id": str(user_id)})
    previous = target.is_admin
    target.is_admin = is_admin
    session.flush()
    ops.record(
        session=session,
        actor_id=actor_id,
        action=ops.OpsAction.SET_PLATFORM_ADMIN,
        target=f"user:{user_id}",
        details={"from": previous, "to": is_admin},
    )
    return target
