"""What the organisations domain holds about a person (their memberships, the invitations
to their address), for account export and erasure (models/core/erasure.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from models.core.erasure import Person, personal_data
from models.orgs.invitations import Invitation
from models.orgs.organizations import Membership, Organization


def _export(session: Session, person: Person) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Organization.id, Organization.name, Membership.role, Membership.created_at)
        .join(Membership, Membership.org_id == Organization.id)
        .where(Membership.user_id == person.user_id)
        .order_by(Membership.created_at)
    ).all()
    return [
        {"id": str(i), "name": name, "role": role.value, "joined_at": at.isoformat()}
        for i, name, role, at in rows
    ]


@personal_data("orgs", export=_export)
def _erase(session: Session, person: Person) -> None:
    session.execute(delete(Membership).where(Membership.user_id == person.user_id))
    session.execute(delete(Invitation).where(Invitation.email == person.email))
    session.execute(
        update(Invitation).where(Invitation.invited_by == person.user_id).values(invited_by=None)
    )
