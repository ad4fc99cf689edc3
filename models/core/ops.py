"""Operator actions on the job platform: paused queues, the dead-letter set, the audit log.

Every action an operator takes writes its audit row in the caller's transaction, so the log
holds exactly the actions that took effect: a rolled-back action leaves no row, and no action
commits without one. The read-only figures (queue counts, throughput, latency, job search)
live in models/core/ops_stats.py.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, func, select, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.core.base import Base, now_ts
from models.core.errors import InvalidInput
from models.core.jobs import Job, JobStatus
from models.core.tenants import users

MAX_REDRIVE_BATCH = 1000


class OpsAction(enum.StrEnum):
    RETRY = "job.retry"
    CANCEL = "job.cancel"
    REDRIVE = "dead_letter.redrive"
    PAUSE = "queue.pause"
    RESUME = "queue.resume"
    SET_TIER = "org.set_tier"
    SET_PLATFORM_ADMIN = "user.set_platform_admin"


class OpsAudit(Base):
    """One operator action: who, what, on which target, when."""

    __tablename__ = "ops_audit"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # Kept when the operator's account is deleted, without the link.
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    action: Mapped[str] = mapped_column(String(40))
    # "job:<id>", "queue:<name>", "kind:<name>" or "jobs" (a list in details.job_ids).
    target: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    at: Mapped[now_ts]


class QueuePause(Base):
    """A paused queue: workers leave its messages alone until the row is deleted."""

    __tablename__ = "queue_pauses"

    queue: Mapped[str] = mapped_column(String(100), primary_key=True)
    paused_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    reason: Mapped[str | None] = mapped_column(String(500))
    paused_at: Mapped[now_ts]


# -- audit log ---------------------------------------------------------------------------------
def record(
    *,
    session: Session,
    actor_id: uuid.UUID,
    action: OpsAction,
    target: str,
    details: dict[str, Any] | None = None,
) -> OpsAudit:
    """Write the audit row of an action, in the caller's transaction."""
    entry = OpsAudit(actor_id=actor_id, action=action.value, target=target, details=details or {})
    session.add(entry)
    session.flush()
    return entry


def list_audit(
    *, session: Session, before_id: int | None, limit: int
) -> tuple[list[OpsAudit], int | None]:
    """A page of the audit log, newest first, and the cursor (an id) of the next page."""
    query = select(OpsAudit).order_by(OpsAudit.id.desc()).limit(limit + 1)
    if before_id is not None:
        query = query.where(OpsAudit.id < before_id)
    rows = list(session.scalars(query))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


def actor_emails(*, session: Session, entries: list[OpsAudit]) -> dict[uuid.UUID, str]:
    """The e-mail addresses of the operators behind `entries`, so the log reads by name."""
    ids = {e.actor_id for e in entries if e.actor_id is not None}
    if not ids:
        return {}
    rows = session.execute(select(users.c.id, users.c.email).where(users.c.id.in_(ids)))
    return {user_id: email for user_id, email in rows}


# -- paused queues -----------------------------------------------------------------------------
def paused_queues(*, session: Session) -> dict[str, QueuePause]:
    return {p.queue: p for p in session.scalars(select(QueuePause))}


def pause_queue(
    *, session: Session, queue: str, actor_id: uuid.UUID, reason: str | None = None
) -> bool:
    """Pause `queue`; False if it was already paused (nothing changes then)."""
    if session.get(QueuePause, queue, with_for_update=True) is not None:
        return False
    session.add(QueuePause(queue=queue, paused_by=actor_id, reason=reason))
    session.flush()
    return True


def resume_queue(*, session: Session, queue: str) -> bool:
    """Resume `queue`; False if it was not paused."""
    pause = session.get(QueuePause, queue, with_for_update=True)
    if pause is None:
        return False
    session.delete(pause)
    session.flush()
    return True


# -- dead-letter set ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RedriveRequest:
    """Which failed jobs to queue again: some by id, or the oldest of a kind (or both)."""

    kind: str | None = None
    job_ids: tuple[uuid.UUID, ...] = ()
    limit: int = 500

    def validate(self) -> None:
        if self.kind is None and not self.job_ids:
            raise InvalidInput(
                "name a kind or some job_ids to re-drive",
                details={"fields": {"kind": ["kind or job_ids is required"]}},
            )
        if not 1 <= self.limit <= MAX_REDRIVE_BATCH:
            raise InvalidInput(
                f"limit must be between 1 and {MAX_REDRIVE_BATCH}",
                details={"fields": {"limit": ["out of range"]}},
            )


def dead_letter_batch(*, session: Session, request: RedriveRequest) -> list[Job]:
    """Failed jobs matching the request, oldest failure first, locked, at most `limit`.

    Rows another transaction holds are skipped (SKIP LOCKED): two operators re-driving the same
    kind at once split the jobs between them instead of queueing any twice.
    """
    request.validate()
    query = select(Job).where(Job.status == JobStatus.FAILED)
    if request.kind is not None:
        query = query.where(Job.kind == request.kind)
    if request.job_ids:
        query = query.where(Job.id.in_(request.job_ids))
    query = query.order_by(Job.finished_at, Job.id).limit(request.limit)
    return list(session.scalars(query.with_for_update(skip_locked=True)))


def dead_letter_count(*, session: Session, kind: str | None = None) -> int:
    query = select(func.count()).select_from(Job).where(Job.status == JobStatus.FAILED)
    if kind is not None:
        query = query.where(Job.kind == kind)
    return int(session.scalar(query) or 0)


@dataclass(frozen=True)
class DeadLetterKind:
    """The failed jobs of one kind: how many, and when the oldest and newest failed."""

    kind: str
    queue: str
    jobs: int
    oldest_failed_at: datetime | None
    newest_failed_at: datetime | None


def dead_letter_by_kind(*, session: Session) -> list[DeadLetterKind]:
    """The dead-letter set by kind, largest first (read through the (status, queue) index)."""
    jobs = func.count().label("jobs")
    rows = session.execute(
        select(Job.kind, Job.queue, jobs, func.min(Job.finished_at), func.max(Job.finished_at))
        .where(Job.status == JobStatus.FAILED)
        .group_by(Job.kind, Job.queue)
        .order_by(jobs.desc(), Job.kind)
    )
    return [DeadLetterKind(*row) for row in rows]


def audit_target(request: RedriveRequest) -> str:
    return f"kind:{request.kind}" if request.kind is not None else "jobs"
