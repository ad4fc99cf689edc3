"""The daily run: every organisation's changes become notifications, once each.

A run reads up to its slot (or the database's now, if the slot is still ahead), writes one
notification per change with ON CONFLICT DO NOTHING on the notification's key, and moves each
organisation's high-water mark forward (never back), all in the caller's transaction. Runs
take a transaction-scoped advisory lock, so two at once (two schedulers, a retry, an operator)
go one after the other and the second finds the first's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import DateTime, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models.core.tenants import organizations
from models.notifications.changes import Change, changes_until
from models.notifications.phrasing import plain
from models.notifications.tables import Mark, Notification

RUN_LOCK = 7_316_209_441_020_601  # pg_advisory_xact_lock's key for the daily run
INSERT_BATCH = 1000


def write_notifications(*, session: Session, slot: datetime) -> tuple[list[uuid.UUID], datetime]:
    """Write the notifications of every change up to `slot`; the new ones' ids and the moment
    read up to."""
    session.execute(select(func.pg_advisory_xact_lock(RUN_LOCK)))
    now = session.scalar(select(func.now()))
    assert now is not None  # noqa: S101 - now() is never NULL
    until = min(slot, now)
    changes = changes_until(session=session, until=until)
    created: list[uuid.UUID] = []
    for start in range(0, len(changes), INSERT_BATCH):
        created += _insert(session, changes[start : start + INSERT_BATCH])
    _advance_marks(session, until)
    return created, until


def _insert(session: Session, changes: Sequence[Change]) -> list[uuid.UUID]:
    rows = []
    for change in changes:
        title, body = plain(change)
        rows.append(
            {
                "org_id": change.org_id,
                "kind": change.kind.value,
                "subject": change.subject,
                "period": change.period,
                "title": title,
                "body": body,
                "facts": change.facts,
                "happened_at": change.happened_at,
            }
        )
    # Many parameter sets in one statement: SQLAlchemy sends them as one INSERT … VALUES per
    # batch ("insertmanyvalues") without compiling a statement per row count.
    statement = (
        insert(Notification)
        .on_conflict_do_nothing(constraint="uq_notifications_key")
        .returning(Notification.id)
    )
    return list(session.scalars(statement, rows))


def _advance_marks(session: Session, until: datetime) -> None:
    statement = insert(Mark).from_select(
        ["org_id", "read_until"],
        select(organizations.c.id, literal(until, DateTime(timezone=True))).order_by(
            organizations.c.id
        ),
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[Mark.org_id],
            set_={
                "read_until": func.greatest(Mark.read_until, statement.excluded.read_until),
                "updated_at": func.now(),
            },
        )
    )


def written(*, session: Session, ids: Sequence[uuid.UUID]) -> list[Notification]:
    """The notifications of `ids`, by organisation then id (a run's new ones, to phrase)."""
    query = (
        select(Notification)
        .where(Notification.id.in_(ids))
        .order_by(Notification.org_id, Notification.id)
    )
    return list(session.scalars(query))


def rephrase(*, session: Session, notification_id: uuid.UUID, body: str, model: str) -> None:
    """Keep the model's wording of a notification's body."""
    found = session.get(Notification, notification_id)
    if found is not None:
        found.body, found.phrased_by = body, model
