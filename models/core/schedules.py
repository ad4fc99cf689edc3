"""Periodic jobs' schedules: which slot of each one has been run.

A schedule's row holds the last slot (a moment its cron expression or interval names) for
which a job was created. Claiming a slot moves it forward in the same transaction that stores
the slot's job, and only forward: several schedulers may ask at once, and each slot is
claimed, so run, once (the row lock orders them, and the losers find the slot taken). A
schedule first seen records the slot just past as run: a deploy runs nothing at once, and the
next slot runs as usual. Slots missed while no scheduler ran are not made up one by one: the
latest is claimed, once.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, func, select, update
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.core.base import Base, now_ts, timestamp
from models.core.jobs import Job, JobStatus


class PeriodicSchedule(Base):
    __tablename__ = "periodic_schedules"

    # The job kind it runs (one schedule per periodic kind).
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_slot_at: Mapped[timestamp]
    last_job_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("jobs.id", ondelete="SET NULL")
    )
    created_at: Mapped[now_ts]
    updated_at: Mapped[now_ts]


def last_slots(*, session: Session) -> dict[str, PeriodicSchedule]:
    """Every schedule's row, by name."""
    return {row.name: row for row in session.scalars(select(PeriodicSchedule))}


def last_runs(*, session: Session) -> dict[str, tuple[PeriodicSchedule, JobStatus | None]]:
    """Every schedule's row and the status of its last job (None: none, or deleted), by name."""
    rows = session.execute(
        select(PeriodicSchedule, Job.status).outerjoin(Job, Job.id == PeriodicSchedule.last_job_id)
    )
    return {schedule.name: (schedule, status) for schedule, status in rows}


def first_seen(*, session: Session, name: str, slot: datetime) -> bool:
    """Record a schedule not seen before, with `slot` as its last run; False if it was known."""
    inserted = session.execute(
        insert(PeriodicSchedule)
        .values(name=name, last_slot_at=slot)
        .on_conflict_do_nothing(index_elements=[PeriodicSchedule.name])
        .returning(PeriodicSchedule.name)
    ).first()
    return inserted is not None


def claim_slot(*, session: Session, name: str, slot: datetime) -> bool:
    """Take `slot` of schedule `name` if no earlier claim took it or a later one: True once
    per slot, whoever asks. The row stays locked until the caller's transaction ends."""
    claimed = session.execute(
        update(PeriodicSchedule)
        .where(PeriodicSchedule.name == name, PeriodicSchedule.last_slot_at < slot)
        .values(last_slot_at=slot, updated_at=func.now())
        .returning(PeriodicSchedule.name)
    ).first()
    return claimed is not None


def record_job(*, session: Session, name: str, job_id: uuid.UUID) -> None:
    """The job that a claimed slot created (what operators see as the last run)."""
    session.execute(
        update(PeriodicSchedule).where(PeriodicSchedule.name == name).values(last_job_id=job_id)
    )
