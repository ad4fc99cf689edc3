"""Who a campaign goes to: an organisation's fans, its leads' addresses, or its members.

An audience is a source and its filters, stored on the campaign as JSON:

    {"source": "fans", "status": "paid", "country": "GB", "tags": ["vip"], "consent": true}
    {"source": "leads", "status": ["new", "qualified"], "min_score": 50, "validated": true}
    {"source": "members", "roles": ["owner", "admin"]}

When the campaign starts, its recipients are written into the send ledger, pending, in one
INSERT … SELECT (an address once per campaign, whatever the source holds twice), so the total
is known, and every recipient ends sent, failed, skipped or cancelled: none is lost.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import Session

from models.accounts import User
from models.core.addresses import normalise_email
from models.fans import Fan
from models.leads import EmailCheck, Lead, LeadStatus, Verdict
from models.mail.tables import Send
from models.orgs import Membership, Organization

SOURCES = ("fans", "leads", "members")


def _fans(org_id: uuid.UUID, audience: dict[str, Any]) -> Select[Any]:
    where: list[ColumnElement[bool]] = [Fan.org_id == org_id]
    if audience.get("consent", True):
        where.append(Fan.consent.is_(True))  # mail fans only with their consent, by default
    if audience.get("status"):
        where.append(Fan.status == audience["status"])
    if audience.get("country"):
        where.append(Fan.country == audience["country"])
    if audience.get("tags"):
        where.append(Fan.tags.overlap(cast(audience["tags"], ARRAY(String(50)))))
    recipient = func.jsonb_build_object(
        "kind", "fan",
        "id", Fan.id,
        "email", Fan.email,
        "name", func.coalesce(Fan.name, ""),
        "first_name", func.split_part(func.coalesce(Fan.name, ""), " ", 1),
        "country", Fan.country,
        "status", Fan.status,
        "tags", Fan.tags,
    )  # fmt: skip
    return select(Fan.email, recipient).where(*where)


def _leads(org_id: uuid.UUID, audience: dict[str, Any]) -> Select[Any]:
    address = func.jsonb_array_elements_text(Lead.emails).table_valued("value").alias("address")
    email = func.lower(address.c.value)
    where: list[ColumnElement[bool]] = [Lead.org_id == org_id]
    if audience.get("status"):
        where.append(Lead.status.in_([LeadStatus(s) for s in audience["status"]]))
    if audience.get("min_score") is not None:
        where.append(Lead.score >= audience["min_score"])
    if audience.get("validated"):
        where.append(
            select(EmailCheck.id)
            .where(
                EmailCheck.lead_id == Lead.id,
                EmailCheck.email == address.c.value,
                EmailCheck.verdict == Verdict.VALID.value,
            )
            .exists()
        )
    recipient = func.jsonb_build_object(
        "kind", "lead",
        "id", Lead.id,
        "email", email,
        "address", address.c.value,
        "name", Lead.company_name,
        "first_name", "",
        "company_name", Lead.company_name,
        "domain", Lead.domain,
        "score", Lead.score,
        "status", cast(Lead.status, String),
    )  # fmt: skip
    return select(email, recipient).select_from(Lead).join(address, true()).where(*where)


def _members(org_id: uuid.UUID, audience: dict[str, Any]) -> Select[Any]:
    where: list[ColumnElement[bool]] = [
        Membership.org_id == org_id,
        User.deleted_at.is_(None),
    ]
    if audience.get("roles"):
        where.append(cast(Membership.role, String).in_(audience["roles"]))
    name = func.coalesce(User.display_name, "")
    recipient = func.jsonb_build_object(
        "kind", "member",
        "id", User.id,
        "email", User.email,
        "name", name,
        "first_name", func.split_part(name, " ", 1),
        "role", cast(Membership.role, String),
    )  # fmt: skip
    return (
        select(User.email, recipient)
        .join(Membership, Membership.user_id == User.id)
        .where(and_(*where))
    )


def recipients(org_id: uuid.UUID, audience: dict[str, Any]) -> Select[Any]:
    """(email, recipient fields) of everyone the audience names."""
    source = audience["source"]
    if source == "fans":
        return _fans(org_id, audience)
    if source == "leads":
        return _leads(org_id, audience)
    return _members(org_id, audience)


def count(*, session: Session, org_id: uuid.UUID, audience: dict[str, Any]) -> int:
    """How many distinct addresses the audience names now."""
    rows = recipients(org_id, audience).subquery()
    return int(session.scalar(select(func.count(func.distinct(rows.c[0])))) or 0)


def sample(*, session: Session, org_id: uuid.UUID, audience: dict[str, Any]) -> dict[str, Any]:
    """One recipient's fields, for a preview (None: the audience is empty)."""
    row = session.execute(recipients(org_id, audience).limit(1)).first()
    return dict(row[1]) if row else {}


def write_ledger(
    *, session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, audience: dict[str, Any]
) -> int:
    """Put every recipient in the ledger, pending (once per address; again: no change)."""
    # An address the source holds twice (two leads, one address) is inserted once: ON
    # CONFLICT DO NOTHING passes over a row that conflicts with one the statement inserted.
    rows = recipients(org_id, audience).subquery()
    session.execute(
        insert(Send)
        .from_select(
            ["org_id", "campaign_id", "email", "recipient"],
            select(literal(org_id), literal(campaign_id), rows.c[0], rows.c[1]),
        )
        .on_conflict_do_nothing(
            index_elements=["campaign_id", "email"],
            index_where=Send.campaign_id.is_not(None),
        )
    )
    return int(
        session.scalar(
            select(func.count()).select_from(Send).where(Send.campaign_id == campaign_id)
        )
        or 0
    )


def org_owner_id(*, session: Session, org_id: uuid.UUID) -> uuid.UUID | None:
    """The organisation's first owner: the platform sends its mail jobs in their name."""
    return session.scalar(
        select(Membership.user_id)
        .where(Membership.org_id == org_id, cast(Membership.role, String) == "owner")
        .order_by(Membership.created_at)
        .limit(1)
    )


def verified_member_addresses(*, session: Session, org_id: uuid.UUID) -> set[str]:
    """The confirmed addresses of the organisation's members (where a test mail may go)."""
    return {
        normalise_email(email)
        for email in session.scalars(
            select(User.email)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.org_id == org_id,
                User.deleted_at.is_(None),
                User.email_verified_at.is_not(None),
            )
        )
    }


def org_name(*, session: Session, org_id: uuid.UUID) -> str:
    return session.scalar(select(Organization.name).where(Organization.id == org_id)) or ""
