"""The jobs, their events and their effects: the tables, the states, and the snapshot the
API shows (a job as one read found it, without the ORM's bookkeeping)."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql import base as postgresql_base
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.types import UserDefinedType

from models.core.base import Base, now_ts, timestamp, uuid_pk


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class EventType(enum.StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    PROGRESS = "progress"
    RETRY_SCHEDULED = "retry_scheduled"
    INTERRUPTED = "interrupted"
    FAILED = "failed"
    SUCCEEDED = "succeeded"
    CANCEL_REQUESTED = "cancel_requested"
    CANCELLED = "cancelled"
    RECOVERED = "recovered"
    REDRIVEN = "redriven"


JOB_STATUS = Enum(
    JobStatus, name="job_status", values_callable=lambda e: [m.value for m in e], create_type=True
)


class _JobColumns(Protocol):
    """The columns JobFacts reads, on a Job or a JobSnapshot."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def status(self) -> JobStatus: ...
    @property
    def progress_done(self) -> int: ...
    @property
    def progress_total(self) -> int | None: ...
    @property
    def progress_message(self) -> str | None: ...
    @property
    def cancel_requested_at(self) -> datetime | None: ...
    @property
    def updated_at(self) -> datetime: ...


class JobFacts:
    """What clients are shown beyond a job's columns: its model's and its snapshot's."""

    __slots__ = ()

    @property
    def progress(self: _JobColumns) -> dict[str, Any]:
        total = self.progress_total
        percent = None
        if total:
            percent = round(min(100.0, 100.0 * self.progress_done / total), 1)
        elif self.status == JobStatus.SUCCEEDED:
            percent = 100.0
        return {
            "done": self.progress_done,
            "total": total,
            "percent": percent,
            "message": self.progress_message,
        }

    @property
    def cancel_requested(self: _JobColumns) -> bool:
        return self.cancel_requested_at is not None

    @property
    def etag(self: _JobColumns) -> str:
        return f"{self.id.hex}-{int(self.updated_at.timestamp() * 1_000_000)}"


class Job(JobFacts, Base):
    __tablename__ = "jobs"
    # Server-side defaults (timestamps, status) come back in the INSERT's RETURNING clause.
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        UniqueConstraint("owner_id", "idempotency_key", name="uq_jobs_owner_idempotency_key"),
        CheckConstraint("attempts >= 0 AND max_attempts >= 1", name="attempts"),
        CheckConstraint("priority BETWEEN 0 AND 9", name="priority"),
        # A job is a user's in an organisation, or the platform's own (periodic jobs): those
        # are internal, shown to operators only.
        CheckConstraint(
            "(owner_id IS NOT NULL AND org_id IS NOT NULL) "
            "OR (owner_id IS NULL AND org_id IS NULL AND internal)",
            name="owner",
        ),
        # The list endpoint: one organisation's jobs, newest first (keyset pagination).
        Index("ix_jobs_org_created", "org_id", text("created_at DESC"), text("id DESC")),
        Index("ix_jobs_created", text("created_at DESC"), text("id DESC")),
        # A user's jobs: scrubbed of their address when they leave (models/core/erasure.py),
        # their latest of one kind (their data export).
        Index("ix_jobs_owner_kind_created", "owner_id", "kind", text("created_at DESC")),
        # The recovery sweep: due queued jobs and running jobs by heartbeat.
        Index("ix_jobs_queued_run_after", "run_after", postgresql_where=text("status = 'queued'")),
        Index(
            "ix_jobs_running_heartbeat", "heartbeat_at", postgresql_where=text("status = 'running'")
        ),
        Index("ix_jobs_status_kind", "status", "kind"),
        # Operators' figures: queue counts, and throughput/latency over recent finishes.
        Index("ix_jobs_status_queue", "status", "queue"),
        Index(
            "ix_jobs_finished_at", "finished_at", postgresql_where=text("finished_at IS NOT NULL")
        ),
    )

    id: Mapped[uuid_pk]
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    org_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(100))
    status: Mapped[JobStatus] = mapped_column(JOB_STATUS, server_default=JobStatus.QUEUED.value)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    progress_done: Mapped[int] = mapped_column(BigInteger, server_default="0")
    progress_total: Mapped[int | None] = mapped_column(BigInteger)
    progress_message: Mapped[str | None] = mapped_column(String(500))
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer)
    crashes: Mapped[int] = mapped_column(Integer, server_default="0")
    priority: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # Submitted by the platform on the owner's behalf (account mails carrying tokens): not
    # shown to the owner, only to platform admins.
    internal: Mapped[bool] = mapped_column(Boolean, server_default="false")
    request_id: Mapped[str | None] = mapped_column(String(100))
    message_id: Mapped[str | None] = mapped_column(String(100))
    lease_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    worker_id: Mapped[str | None] = mapped_column(String(200))
    run_after: Mapped[datetime] = mapped_column(server_default=func.now())
    cancel_requested_at: Mapped[timestamp | None]
    heartbeat_at: Mapped[timestamp | None]
    created_at: Mapped[now_ts]
    enqueued_at: Mapped[timestamp | None]
    started_at: Mapped[timestamp | None]
    finished_at: Mapped[timestamp | None]
    updated_at: Mapped[now_ts]


@dataclass(frozen=True, slots=True)
class JobSnapshot(JobFacts):
    """A job as one read found it: what the API shows, without the ORM's bookkeeping.

    Polls read jobs far more often than anything else; see `read_job`.
    """

    id: uuid.UUID
    org_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    kind: str
    queue: str
    message_id: str | None
    status: JobStatus
    params: dict[str, Any]
    result: Any
    error: dict[str, Any] | None
    progress_done: int
    progress_total: int | None
    progress_message: str | None
    attempts: int
    max_attempts: int
    priority: int
    idempotency_key: str | None
    cancel_requested_at: datetime | None
    run_after: datetime
    created_at: datetime
    enqueued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_row(cls, *values: Any) -> JobSnapshot:
        """From a row of SNAPSHOT_COLUMNS (the driver hands the enum over as its text)."""
        snapshot = cls(*values)
        object.__setattr__(snapshot, "status", JobStatus(snapshot.status))
        return snapshot


SNAPSHOT_COLUMNS = tuple(JobSnapshot.__dataclass_fields__)
SNAPSHOT = [Job.__table__.c[name] for name in SNAPSHOT_COLUMNS]  # what a statement returns


class Xid8(UserDefinedType[int]):
    """PostgreSQL's 64-bit transaction id (xid8), read as an int."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "xid8"

    def result_processor(self, _dialect: Any, _coltype: Any) -> Any:
        return lambda value: None if value is None else int(value)


# So that reflection (Alembic's comparison of models and migrations) knows the type too.
postgresql_base.ischema_names.setdefault("xid8", Xid8)


class JobEvent(Base):
    """One entry of a job's append-only history."""

    __tablename__ = "job_events"
    __table_args__ = (
        Index("ix_job_events_job_id", "job_id", "id"),
        Index("ix_job_events_txid", "txid", postgresql_where=text("txid IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("jobs.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    at: Mapped[now_ts]
    # The transaction that wrote it (migration 0005 says why); set by the database.
    txid: Mapped[int | None] = mapped_column(Xid8(), server_default=text("pg_current_xact_id()"))


class JobEffect(Base):
    """An effect a job completed (a mail sent, say), so a retry does not repeat it."""

    __tablename__ = "job_effects"

    job_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[now_ts]


def add_event(
    *,
    session: Session,
    job_id: uuid.UUID,
    type: EventType,
    message: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    session.add(JobEvent(job_id=job_id, type=type.value, message=message, data=data))
