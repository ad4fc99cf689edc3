"""Scheduled lead reports: an organisation asks for its report weekly or monthly.

A schedule row names the requester (who is mailed the link), the format and the frequency, and
the last period it was submitted for. The periodic job (workers/leads.py) claims each due row
under a row lock and moves its `last_period` forward in the transaction that stores the
period's report and job, so a period's report is submitted exactly once however often, or
however many times at once, the periodic job runs. A weekly period starts on Monday 00:00 UTC,
a monthly one on the 1st; the report covers the period just ended.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.core.base import Base, now_ts, uuid_pk
from models.core.errors import Conflict, NotFound
from models.orgs import Membership

MAX_SCHEDULES_PER_ORG = 20


class Frequency(enum.StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class ReportSchedule(Base):
    __tablename__ = "lead_report_schedules"
    __table_args__ = (
        CheckConstraint("format IN ('csv', 'xlsx')", name="format"),
        CheckConstraint("frequency IN ('weekly', 'monthly')", name="frequency"),
        UniqueConstraint("org_id", "frequency", "format", name="uq_lead_report_schedules_kind"),
        Index("ix_lead_report_schedules_due", "frequency", "last_period"),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    frequency: Mapped[str] = mapped_column(String(10))
    format: Mapped[str] = mapped_column(String(10))
    last_period: Mapped[date] = mapped_column(Date)  # the start of the last period submitted
    created_at: Mapped[now_ts]


@dataclass(frozen=True)
class Period:
    start: datetime  # of the period that has begun: the report covers the one before it
    previous: datetime

    @property
    def day(self) -> date:
        return self.start.date()


def period_at(frequency: str, moment: datetime) -> Period:
    """The period `moment` falls in (UTC), and the start of the one before."""
    day = moment.astimezone(UTC).date()
    if frequency == Frequency.WEEKLY:
        start = day - timedelta(days=day.weekday())
        previous = start - timedelta(days=7)
    else:
        start = day.replace(day=1)
        previous = (start - timedelta(days=1)).replace(day=1)
    return Period(
        datetime.combine(start, time(), tzinfo=UTC), datetime.combine(previous, time(), tzinfo=UTC)
    )


def create_schedule(
    *,
    session: Session,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    frequency: str,
    format: str,
    now: datetime,
) -> ReportSchedule:
    """A new schedule; its first report comes when the next period begins."""
    count = len(
        session.scalars(
            select(ReportSchedule.id)
            .where(ReportSchedule.org_id == org_id)
            .limit(MAX_SCHEDULES_PER_ORG)
        ).all()
    )
    if count >= MAX_SCHEDULES_PER_ORG:
        raise Conflict("too many report schedules", details={"limit": MAX_SCHEDULES_PER_ORG})
    schedule = ReportSchedule(
        org_id=org_id,
        created_by=user_id,
        frequency=frequency,
        format=format,
        last_period=period_at(frequency, now).day,
    )
    try:
        with session.begin_nested():
            session.add(schedule)
            session.flush()
    except IntegrityError:
        raise Conflict(
            "the organization already has this report scheduled",
            details={"frequency": frequency, "format": format},
        ) from None
    return schedule


def list_schedules(*, session: Session, org_id: uuid.UUID) -> list[ReportSchedule]:
    return list(
        session.scalars(
            select(ReportSchedule)
            .where(ReportSchedule.org_id == org_id)
            .order_by(ReportSchedule.created_at, ReportSchedule.id)
        )
    )


def delete_schedule(*, session: Session, org_id: uuid.UUID, schedule_id: uuid.UUID) -> None:
    schedule = session.scalar(
        select(ReportSchedule).where(
            ReportSchedule.id == schedule_id, ReportSchedule.org_id == org_id
        )
    )
    if schedule is None:
        raise NotFound("no such report schedule", details={"schedule_id": str(schedule_id)})
    session.delete(schedule)
    session.flush()


def claim_due(
    *, session: Session, frequency: str, period: Period, limit: int
) -> list[ReportSchedule]:
    """Up to `limit` schedules not yet submitted for `period`, locked and marked submitted (the
    caller stores their reports and jobs in the same transaction). Rows another run holds are
    skipped: that run submits them."""
    due = list(
        session.scalars(
            select(ReportSchedule)
            .where(
                ReportSchedule.frequency == frequency,
                ReportSchedule.last_period < period.day,
            )
            .order_by(ReportSchedule.last_period, ReportSchedule.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for schedule in due:
        schedule.last_period = period.day
    session.flush()
    return due


def still_member(*, session: Session, schedule: ReportSchedule) -> bool:
    """Whether the requester still belongs to the organisation (else no report is sent)."""
    if schedule.created_by is None:
        return False
    found = session.get(Membership, (schedule.org_id, schedule.created_by))
    return found is not None
