"""What the leads domain holds about a person: the goals and reports they started, the changes
they made to leads and the notes they wrote, for account export and erasure
(models/core/erasure.py). The organisation keeps its goals, leads and their history; only the
person's name on them goes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.core.erasure import Person, personal_data
from models.leads.interactions import Interaction
from models.leads.reports import Report
from models.leads.schedules import ReportSchedule
from models.leads.tables import Goal, LeadChange


def _export(session: Session, person: Person) -> dict[str, Any]:
    goals = session.scalars(
        select(Goal).where(Goal.created_by == person.user_id).order_by(Goal.created_at)
    )
    notes = session.scalars(
        select(Interaction)
        .where(Interaction.actor_id == person.user_id)
        .order_by(Interaction.happened_at)
    )
    changes = session.scalars(
        select(LeadChange).where(LeadChange.actor_id == person.user_id).order_by(LeadChange.id)
    )
    return {
        "goals": [
            {"id": str(g.id), "goal": g.goal, "created_at": g.created_at.isoformat()} for g in goals
        ],
        "timeline_entries": [
            {
                "lead_id": str(n.lead_id),
                "kind": n.kind,
                "body": n.body,
                "happened_at": n.happened_at.isoformat(),
            }
            for n in notes
        ],
        "lead_changes": [
            {"lead_id": str(c.lead_id), "changed_at": c.changed_at.isoformat(), "after": c.after}
            for c in changes
        ],
    }


@personal_data("leads", export=_export)
def _erase(session: Session, person: Person) -> None:
    for table, column in (
        (Goal, Goal.created_by),
        (Report, Report.created_by),
        (ReportSchedule, ReportSchedule.created_by),
        (LeadChange, LeadChange.actor_id),
        (Interaction, Interaction.actor_id),
    ):
        session.execute(update(table).where(column == person.user_id).values({column.key: None}))
