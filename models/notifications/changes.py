"""What changed in an organisation since the daily run last read it, from the other domains'
tables (through their public modules): revenue imports that landed, releases reviewed,
withdrawals paid, and fan counts that passed a milestone.

Each organisation is read from its high-water mark (where the last run stopped) less
`OVERLAP`, up to the run's moment: a change whose transaction committed just after a run read
past its timestamp is seen by the next one, and the notification's unique key makes the
second sighting of anything else a no-op. An organisation no run has read yet is read from
`FIRST_LOOKBACK` before: a first deploy does not turn years of history into notifications.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import CTE, and_, exists, func, literal, select
from sqlalchemy.orm import Session

from models.core.tenants import organizations
from models.fans import Fan, Release, ReleaseEvent, ReleaseStatus
from models.notifications.tables import Kind, Mark
from models.revenue import Upload, UploadStatus, Withdrawal, WithdrawalEvent, WithdrawalStatus

OVERLAP = timedelta(hours=1)
FIRST_LOOKBACK = timedelta(days=7)
FAN_MILESTONES = (100, 1_000, 10_000, 100_000, 1_000_000)


@dataclass(frozen=True)
class Change:
    """One thing that happened to an organisation, keyed as its notification will be."""

    org_id: uuid.UUID
    kind: Kind
    subject: str
    period: str  # the UTC day, or "" for a once-ever event
    happened_at: datetime
    facts: dict[str, Any] = field(default_factory=dict)


def windows(until: datetime) -> CTE:
    """Every organisation and the moment after which its changes are new to this run."""
    since = func.coalesce(Mark.read_until, literal(until - FIRST_LOOKBACK)) - OVERLAP
    return (
        select(organizations.c.id.label("org_id"), since.label("since"))
        .select_from(organizations.outerjoin(Mark, Mark.org_id == organizations.c.id))
        .cte("windows")
    )


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


def _amount(value: Decimal) -> str:
    return format(value.normalize(), "f")


def imports_landed(session: Session, window: CTE, until: datetime) -> Iterator[Change]:
    rows = session.execute(
        select(Upload.id, Upload.org_id, Upload.filename, Upload.rows_imported, Upload.imported_at)
        .join(window, window.c.org_id == Upload.org_id)
        .where(
            Upload.status == UploadStatus.IMPORTED,
            Upload.imported_at > window.c.since,
            Upload.imported_at <= until,
        )
    )
    for upload_id, org_id, filename, imported, at in rows:
        assert at is not None  # noqa: S101 - the query asks for a time
        yield Change(
            org_id,
            Kind.IMPORT_LANDED,
            str(upload_id),
            _day(at),
            at,
            {"upload_id": str(upload_id), "filename": filename, "rows_imported": imported},
        )


def releases_reviewed(session: Session, window: CTE, until: datetime) -> Iterator[Change]:
    decided = (ReleaseStatus.APPROVED.value, ReleaseStatus.REJECTED.value)
    rows = session.execute(
        select(
            Release.id,
            Release.org_id,
            Release.title,
            ReleaseEvent.to_status,
            ReleaseEvent.reason,
            ReleaseEvent.created_at,
        )
        .join(ReleaseEvent, ReleaseEvent.release_id == Release.id)
        .join(window, window.c.org_id == Release.org_id)
        .where(
            ReleaseEvent.to_status.in_(decided),
            ReleaseEvent.created_at > window.c.since,
            ReleaseEvent.created_at <= until,
        )
    )
    for release_id, org_id, title, status, reason, at in rows:
        approved = status == ReleaseStatus.APPROVED
        yield Change(
            org_id,
            Kind.RELEASE_APPROVED if approved else Kind.RELEASE_REJECTED,
            str(release_id),
            _day(at),
            at,
            {"release_id": str(release_id), "title": title, "reason": None if approved else reason},
        )


def withdrawals_paid(session: Session, window: CTE, until: datetime) -> Iterator[Change]:
    rows = session.execute(
        select(Withdrawal.id, Withdrawal.org_id, Withdrawal.currency, Withdrawal.amount)
        .add_columns(WithdrawalEvent.created_at)
        .join(WithdrawalEvent, WithdrawalEvent.withdrawal_id == Withdrawal.id)
        .join(window, window.c.org_id == Withdrawal.org_id)
        .where(
            WithdrawalEvent.status == WithdrawalStatus.PAID,
            WithdrawalEvent.created_at > window.c.since,
            WithdrawalEvent.created_at <= until,
        )
    )
    for withdrawal_id, org_id, currency, amount, at in rows:
        yield Change(
            org_id,
            Kind.WITHDRAWAL_PAID,
            str(withdrawal_id),
            _day(at),
            at,
            {"withdrawal_id": str(withdrawal_id), "currency": currency, "amount": _amount(amount)},
        )


def fan_milestones(session: Session, window: CTE, until: datetime) -> Iterator[Change]:
    """The highest milestone each organisation's fan count passed in its window (once ever:
    a count that drops back and passes it again is not news)."""
    new_fans = exists().where(
        Fan.org_id == window.c.org_id, Fan.created_at > window.c.since, Fan.created_at <= until
    )
    growing = select(window.c.org_id, window.c.since).where(new_fans).subquery()
    recent = and_(Fan.created_at > growing.c.since, Fan.created_at <= until)
    rows = session.execute(
        select(
            Fan.org_id,
            func.count().filter(Fan.created_at <= until),
            func.count().filter(recent),
            func.max(Fan.created_at).filter(recent),
        )
        .join(growing, growing.c.org_id == Fan.org_id)
        .group_by(Fan.org_id)
    )
    for org_id, total, added, at in rows:
        passed = [m for m in FAN_MILESTONES if total - added < m <= total]
        if passed:
            yield Change(
                org_id,
                Kind.FAN_MILESTONE,
                str(passed[-1]),
                "",
                at,
                {"milestone": passed[-1], "fans": total},
            )


SOURCES = (imports_landed, releases_reviewed, withdrawals_paid, fan_milestones)


def changes_until(*, session: Session, until: datetime) -> list[Change]:
    """Every organisation's changes since its mark, up to `until`, in a stable order."""
    window = windows(until)
    found = [change for source in SOURCES for change in source(session, window, until)]
    return sorted(found, key=lambda c: (str(c.org_id), c.kind.value, c.subject, c.period))
