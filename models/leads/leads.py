"""Leads: one per company domain in an organisation, listed with filters, every change kept.

A search that finds a company already known merges the new contact details into its lead
rather than making a second one (the unique (org, domain) constraint holds it even when two
searches find the same company at once: the insert that loses becomes an update)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models.core.errors import Conflict, NotFound
from models.core.pages import newest_first
from models.leads.tables import Lead, LeadChange, LeadStatus
from models.leads.validation import EmailCheck, Verdict

# The fields a change records, and that a user may edit.
TRACKED = ("company_name", "emails", "phones", "social", "status", "tags", "notes", "score")
EDITABLE = ("company_name", "emails", "phones", "social", "status", "tags", "notes")


class LeadExists(Conflict):
    """The organisation already has a lead for this company domain."""

    code = "lead_exists"


@dataclass(frozen=True)
class FoundLead:
    domain: str
    company_name: str
    emails: list[str]
    phones: list[str]
    social: list[str]
    source_url: str
    score: int
    score_reasons: list[str]


@dataclass(frozen=True)
class LeadFilter:
    status: LeadStatus | None = None
    min_score: int | None = None
    source: str | None = None
    goal_id: uuid.UUID | None = None
    tag: str | None = None
    validated: bool | None = None  # has (or has not) an address with a "valid" verdict
    created_after: datetime | None = None
    created_before: datetime | None = None


def _snapshot(lead: Lead) -> dict[str, Any]:
    values = {name: getattr(lead, name) for name in TRACKED}
    values["status"] = lead.status.value if lead.status else None
    values["tags"] = list(lead.tags or [])
    return values


def _record(
    session: Session, lead: Lead, before: dict[str, Any], actor_id: uuid.UUID | None
) -> None:
    after = _snapshot(lead)
    changed = [k for k in TRACKED if before.get(k) != after.get(k)]
    if changed:
        session.add(
            LeadChange(
                lead_id=lead.id,
                org_id=lead.org_id,
                actor_id=actor_id,
                before={k: before.get(k) for k in changed},
                after={k: after[k] for k in changed},
            )
        )


def save_found_lead(
    *, session: Session, org_id: uuid.UUID, goal_id: uuid.UUID, found: FoundLead
) -> tuple[Lead, bool]:
    """Create the lead for `found.domain`, or merge into the one the organisation has.

    Returns the lead and whether it is new. A merge keeps every detail already known, adds
    the new ones and keeps the better score; it is recorded as a change made by no user."""
    inserted = session.scalar(
        insert(Lead)
        .values(
            org_id=org_id,
            goal_id=goal_id,
            domain=found.domain,
            company_name=found.company_name,
            emails=found.emails,
            phones=found.phones,
            social=found.social,
            source="search",
            source_url=found.source_url,
            score=found.score,
            score_reasons=found.score_reasons,
        )
        .on_conflict_do_nothing(constraint="uq_leads_org_domain")
        .returning(Lead.id)
    )
    lead = session.scalar(
        select(Lead)
        .where(Lead.org_id == org_id, Lead.domain == found.domain)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if lead is None:  # inserted, or there already: only a delete in between gets here
        raise Conflict("the lead was deleted while it was saved", details={"domain": found.domain})
    if inserted is not None:
        session.add(
            LeadChange(
                lead_id=lead.id,
                org_id=lead.org_id,
                actor_id=None,
                before={},
                after=_snapshot(lead),
            )
        )
        return lead, True
    before = _snapshot(lead)
    lead.company_name = lead.company_name or found.company_name
    for name in ("emails", "phones", "social"):
        setattr(lead, name, list(dict.fromkeys([*getattr(lead, name), *getattr(found, name)])))
    if found.score > lead.score:
        lead.score, lead.score_reasons = found.score, found.score_reasons
    _record(session, lead, before, None)
    return lead, False


def create_lead(
    *,
    session: Session,
    org_id: uuid.UUID,
    actor_id: uuid.UUID | None,  # None: a job (an import)
    domain: str,
    values: dict[str, Any],
    score: int,
    score_reasons: list[str],
) -> Lead:
    """A lead a user entered; a domain the organisation already has is a LeadExists."""
    lead_id = session.scalar(
        insert(Lead)
        .values(
            org_id=org_id,
            domain=domain,
            source="manual",
            score=score,
            score_reasons=score_reasons,
            **{k: v for k, v in values.items() if k in EDITABLE},
        )
        .on_conflict_do_nothing(constraint="uq_leads_org_domain")
        .returning(Lead.id)
    )
    if lead_id is None:
        raise LeadExists(
            "this organization already has a lead for that domain", details={"domain": domain}
        )
    lead = session.get_one(Lead, lead_id)
    session.add(
        LeadChange(
            lead_id=lead.id, org_id=org_id, actor_id=actor_id, before={}, after=_snapshot(lead)
        )
    )
    return lead


def lead_of(*, session: Session, org_id: uuid.UUID, lead_id: uuid.UUID, lock: bool = False) -> Lead:
    """The organisation's lead; another organisation's is as unknown as a missing one."""
    query = select(Lead).where(Lead.id == lead_id, Lead.org_id == org_id)
    lead = session.scalar(query.with_for_update() if lock else query)
    if lead is None:
        raise NotFound("no such lead", details={"lead_id": str(lead_id)})
    return lead


def update_lead(
    *,
    session: Session,
    org_id: uuid.UUID,
    lead_id: uuid.UUID,
    actor_id: uuid.UUID,
    changes: dict[str, Any],
) -> Lead:
    """Apply a user's edit; what it changed is recorded in the lead's history."""
    lead = lead_of(session=session, org_id=org_id, lead_id=lead_id, lock=True)
    before = _snapshot(lead)
    for name, value in changes.items():
        if name in EDITABLE:
            setattr(lead, name, value)
    session.flush()
    _record(session, lead, before, actor_id)
    return lead


def history_of(*, session: Session, lead_id: uuid.UUID) -> list[LeadChange]:
    """The lead's changes, oldest first."""
    return list(
        session.scalars(
            select(LeadChange).where(LeadChange.lead_id == lead_id).order_by(LeadChange.id)
        )
    )


def _filtered(query: Select[Any], f: LeadFilter) -> Select[Any]:
    if f.status is not None:
        query = query.where(Lead.status == f.status)
    if f.min_score is not None:
        query = query.where(Lead.score >= f.min_score)
    if f.source is not None:
        query = query.where(Lead.source == f.source)
    if f.goal_id is not None:
        query = query.where(Lead.goal_id == f.goal_id)
    if f.tag is not None:
        query = query.where(Lead.tags.contains([f.tag]))
    if f.validated is not None:
        valid = (
            select(EmailCheck.id)
            .where(EmailCheck.lead_id == Lead.id, EmailCheck.verdict == Verdict.VALID.value)
            .exists()
        )
        query = query.where(valid if f.validated else ~valid)
    if f.created_after is not None:
        query = query.where(Lead.created_at >= f.created_after)
    if f.created_before is not None:
        query = query.where(Lead.created_at < f.created_before)
    return query


def list_leads(
    *, session: Session, org_id: uuid.UUID, filters: LeadFilter, cursor: str | None, limit: int
) -> tuple[list[Lead], str | None]:
    """A page of the organisation's leads, newest first."""
    return newest_first(
        session=session,
        query=_filtered(select(Lead).where(Lead.org_id == org_id), filters),
        created_at=Lead.created_at,
        row_id=Lead.id,
        cursor=cursor,
        limit=limit,
    )


@dataclass(frozen=True)
class Notification:
    """A change to one of the organisation's leads, as its members are told of it."""

    id: int
    lead_id: uuid.UUID
    domain: str
    actor_id: uuid.UUID | None
    changed_at: datetime
    fields: list[str]
    before: dict[str, Any]
    after: dict[str, Any]


def notifications_for(
    *,
    session: Session,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    before_id: int | None,
    limit: int,
) -> list[Notification]:
    """Changes to the organisation's leads made by anyone but `user_id`, newest first
    (page on with the last one's id)."""
    query = (
        select(LeadChange, Lead.domain)
        .join(Lead, Lead.id == LeadChange.lead_id)
        .where(
            LeadChange.org_id == org_id,
            or_(LeadChange.actor_id.is_(None), LeadChange.actor_id != user_id),
        )
        .order_by(LeadChange.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(LeadChange.id < before_id)
    return [
        Notification(
            id=change.id,
            lead_id=change.lead_id,
            domain=domain,
            actor_id=change.actor_id,
            changed_at=change.changed_at,
            fields=sorted(change.after),
            before=change.before,
            after=change.after,
        )
        for change, domain in session.execute(query)
    ]
