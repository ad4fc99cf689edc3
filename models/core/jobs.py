"""Jobs and their history: the tables, and what clients may do with them.

The job row is the truth about a job; the broker only carries its id. Every change of state
writes an event in the same transaction, so the history a client reads is never out of step
with the status it sees. The state changes made while a job runs live in models/core/job_runs.py.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb
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
    bindparam,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.core.access import Viewer
from models.core.base import Base, now_ts, timestamp, utcnow, uuid_pk
from models.core.db import Prepared
from models.core.errors import Conflict, NotFound
from models.core.ids import uuid7
from models.core.pages import newest_first


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
_SNAPSHOT = [Job.__table__.c[name] for name in SNAPSHOT_COLUMNS]  # what a statement returns


class JobEvent(Base):
    """One entry of a job's append-only history."""

    __tablename__ = "job_events"
    __table_args__ = (Index("ix_job_events_job_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("jobs.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    at: Mapped[now_ts]


class JobEffect(Base):
    """An effect a job completed (a mail sent, say), so a retry does not repeat it."""

    __tablename__ = "job_effects"

    job_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[now_ts]


@dataclass(frozen=True)
class NewJob:
    """A validated request for a job, ready to be stored."""

    kind: str
    queue: str
    params: dict[str, Any]
    max_attempts: int
    priority: int = 0
    run_at: datetime | None = None
    idempotency_key: str | None = None
    request_id: str | None = None
    internal: bool = False


def add_event(
    *,
    session: Session,
    job_id: uuid.UUID,
    type: EventType,
    message: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    session.add(JobEvent(job_id=job_id, type=type.value, message=message, data=data))


def _new_values(
    owner_id: uuid.UUID | None, org_id: uuid.UUID | None, new: NewJob
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The columns of a new job row and of its first event (the rest are server defaults)."""
    job_id = uuid7()
    job: dict[str, Any] = {
        "id": job_id,
        "owner_id": owner_id,
        "org_id": org_id,
        "kind": new.kind,
        "queue": new.queue,
        "params": new.params,
        "max_attempts": new.max_attempts,
        "priority": new.priority,
        "idempotency_key": new.idempotency_key,
        "request_id": new.request_id,
        "internal": new.internal,
        "message_id": str(job_id),
        # Sent right after the commit; the dispatcher clears it again if the send fails. The
        # application's clock, not now(): a SQL expression would be re-read after the commit.
        "enqueued_at": utcnow(),
    }
    event: dict[str, Any] = {"job_id": job_id, "type": EventType.QUEUED.value}
    if new.run_at is not None:
        job["run_after"] = new.run_at
        event["data"] = {"run_after": new.run_at.isoformat()}
    return job, event


def _build_insert_job() -> Prepared:
    """INSERT a job RETURNING it, with its first event in a CTE: one round trip."""
    columns = Job.__table__.c
    # Named apart from every column ("new_" + name): an INSERT given parameters named like
    # its table's columns fills those columns from them too (job_events has an id as well).
    values: dict[str, Any] = {
        name: bindparam(f"new_{name}", type_=columns[name].type)
        for name in _JOB_COLUMNS
        if name != "run_after"
    }
    values["run_after"] = func.coalesce(
        bindparam("new_run_after", type_=columns.run_after.type), func.now()
    )
    queued = (
        insert(JobEvent)
        .values(
            job_id=bindparam("new_id", type_=columns.id.type),
            type=EventType.QUEUED.value,
            data=bindparam("new_event_data", type_=JSONB(none_as_null=True)),
        )
        .cte("queued_event")
    )
    return Prepared.compile(insert(Job).values(values).returning(*_SNAPSHOT).add_cte(queued))


_JOB_COLUMNS = (
    "id", "owner_id", "org_id", "kind", "queue", "params", "max_attempts", "priority",
    "idempotency_key", "request_id", "internal", "message_id", "enqueued_at", "run_after",
)  # fmt: skip
_INSERT_JOB = _build_insert_job()


def _insert_job(session: Session, job: dict[str, Any], event: dict[str, Any]) -> JobSnapshot:
    """Insert a job and its first event in one statement."""
    values = {"run_after": None, **job, "params": Jsonb(job["params"])}
    data = event.get("data")
    params = {f"new_{k}": v for k, v in values.items()}
    params["new_event_data"] = None if data is None else Jsonb(data)
    inserted = _INSERT_JOB.fetchone(session, params, JobSnapshot.from_row)
    if inserted is None:  # an INSERT … VALUES RETURNING answers its row or raises
        raise RuntimeError("the job's INSERT returned no row")
    return inserted


def create_job(
    *, session: Session, owner_id: uuid.UUID | None, org_id: uuid.UUID | None, new: NewJob
) -> tuple[JobSnapshot, bool]:
    """Store a queued job and its first event; returns (job, created).

    A job without owner and organisation is the platform's own (`new.internal` must be set).

    With an idempotency key, a repeat of the same request returns the job the first request
    made (created is False); the same key with a different request is a conflict. The job
    comes back as a snapshot: load it through the session to change it.
    """
    values, event = _new_values(owner_id, org_id, new)
    if new.idempotency_key is None:
        return _insert_job(session, values, event), True
    existing = _by_idempotency_key(session, owner_id, new.idempotency_key)
    if existing is not None:
        return _same_request(existing, new, org_id), False
    try:
        # A savepoint, so that losing a race on the idempotency key leaves the caller's
        # transaction usable and we can return the winner's job.
        with session.begin_nested():
            job = _insert_job(session, values, event)
    except UniqueViolation:
        existing = _by_idempotency_key(session, owner_id, new.idempotency_key)
        if existing is None:
            raise
        return _same_request(existing, new, org_id), False
    return job, True


def create_jobs(
    *, session: Session, owner_id: uuid.UUID, org_id: uuid.UUID, news: list[NewJob]
) -> list[Job]:
    """Store many queued jobs (no idempotency keys) in two multi-row inserts."""
    rows = [_new_values(owner_id, org_id, new) for new in news]
    jobs = [Job(**job) for job, _ in rows]
    session.add_all([*jobs, *(JobEvent(**event) for _, event in rows)])
    session.flush()
    return jobs


_BY_IDEMPOTENCY_KEY = Prepared.compile(
    select(*_SNAPSHOT).where(
        Job.owner_id == bindparam("owner_id"), Job.idempotency_key == bindparam("key")
    )
)


def _by_idempotency_key(
    session: Session, owner_id: uuid.UUID | None, key: str
) -> JobSnapshot | None:
    params = {"owner_id": owner_id, "key": key}
    return _BY_IDEMPOTENCY_KEY.fetchone(session, params, JobSnapshot.from_row)


def _same_request(existing: JobSnapshot, new: NewJob, org_id: uuid.UUID | None) -> JobSnapshot:
    if existing.org_id != org_id:
        # Keys are the submitter's, but a replay must not hand over a job of an organisation
        # the caller acts outside of (one they may have left since).
        raise Conflict(
            "this Idempotency-Key was already used in another organization; use a new key"
        )
    if existing.kind != new.kind or existing.params != new.params:
        raise Conflict(
            "this Idempotency-Key was already used for a different request",
            details={"job_id": str(existing.id)},
        )
    return existing


def get_job(
    *,
    session: Session,
    job_id: uuid.UUID,
    viewer: Viewer,
    lock: bool = False,
    include_internal: bool = False,
) -> Job:
    """The job, if the viewer may see it; another organisation's job does not exist for them.

    Internal jobs (account mails with their tokens) are no one's to read through the jobs
    API, admins' included; operators reach them through the ops API (`include_internal`),
    which hides their secrets.
    """
    query = select(Job).where(Job.id == job_id)
    if not include_internal:
        query = query.where(Job.internal.is_(False))
    if not viewer.is_admin:
        query = query.where(Job.org_id == viewer.org_id)
    if lock:
        query = query.with_for_update()
    job = session.scalar(query)
    if job is None:
        raise NotFound("job not found", details={"job_id": str(job_id)})
    return job


def _read_job(*, admin: bool) -> Prepared:
    """get_job's query for reading only: polls run it over and over."""
    columns = Job.__table__.c
    query = select(*_SNAPSHOT).where(columns.id == bindparam("job_id"), columns.internal.is_(False))
    if not admin:
        query = query.where(columns.org_id == bindparam("org_id"))
    return Prepared.compile(query)


_READ_JOB = {admin: _read_job(admin=admin) for admin in (True, False)}


def read_job(*, session: Session, job_id: uuid.UUID, viewer: Viewer) -> JobSnapshot:
    """The job as the database has it now, if the viewer may see it (as `get_job`)."""
    params = {"job_id": job_id, "org_id": viewer.org_id}
    job = _READ_JOB[viewer.is_admin].fetchone(session, params, JobSnapshot.from_row)
    if job is None:
        raise NotFound("job not found", details={"job_id": str(job_id)})
    return job


@dataclass(frozen=True)
class JobFilter:
    status: JobStatus | None = None
    kind: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def list_jobs(
    *, session: Session, viewer: Viewer, filters: JobFilter, cursor: str | None, limit: int
) -> tuple[list[Job], str | None]:
    """A page of the viewer's organisation's jobs (all jobs for platform admins), newest
    first, and the cursor of the next page."""
    query = select(Job).where(Job.internal.is_(False))
    if not viewer.is_admin:
        query = query.where(Job.org_id == viewer.org_id)
    if filters.status is not None:
        query = query.where(Job.status == filters.status)
    if filters.kind is not None:
        query = query.where(Job.kind == filters.kind)
    if filters.created_after is not None:
        query = query.where(Job.created_at >= filters.created_after)
    if filters.created_before is not None:
        query = query.where(Job.created_at < filters.created_before)
    return newest_first(
        session=session,
        query=query,
        created_at=Job.created_at,
        row_id=Job.id,
        cursor=cursor,
        limit=limit,
    )


def list_events(
    *, session: Session, job_id: uuid.UUID, after_id: int = 0, limit: int = 500
) -> list[JobEvent]:
    return list(
        session.scalars(
            select(JobEvent)
            .where(JobEvent.job_id == job_id, JobEvent.id > after_id)
            .order_by(JobEvent.id)
            .limit(limit)
        )
    )


def request_cancel(*, session: Session, job: Job) -> Job:
    """Cancel a queued job now; ask a running one to stop at its next check.

    The request is a flag in the database, so it holds whichever worker has the job and
    survives restarts of every process.
    """
    if job.status.finished:
        raise Conflict(f"job is already {job.status.value}", details={"status": job.status.value})
    now = utcnow()
    if job.status == JobStatus.QUEUED:
        job.status = JobStatus.CANCELLED
        job.finished_at = now
        job.cancel_requested_at = now
        add_event(
            session=session,
            job_id=job.id,
            type=EventType.CANCELLED,
            message="cancelled before it started",
        )
    elif job.cancel_requested_at is None:
        job.cancel_requested_at = now
        add_event(session=session, job_id=job.id, type=EventType.CANCEL_REQUESTED)
    job.updated_at = now
    session.flush()
    return job


def redrive(*, session: Session, job: Job) -> Job:
    """Queue a failed or cancelled job again with a fresh set of attempts."""
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise Conflict(
            f"only failed or cancelled jobs can be retried; this one is {job.status.value}",
            details={"status": job.status.value},
        )
    now = utcnow()
    # The history is shown to every member: the traceback stays with operators.
    error = {k: v for k, v in (job.error or {}).items() if k != "traceback"} or None
    previous = {"status": job.status.value, "attempts": job.attempts, "error": error}
    job.status = JobStatus.QUEUED
    job.attempts = 0
    job.crashes = 0
    job.error = None
    job.result = None
    job.cancel_requested_at = None
    job.lease_id = None
    job.worker_id = None
    job.heartbeat_at = None
    job.started_at = None
    job.finished_at = None
    job.enqueued_at = now  # sent right after the commit, like a new job
    job.run_after = now
    job.updated_at = now
    job.message_id = f"{job.id}.{int(now.timestamp() * 1000)}"
    add_event(session=session, job_id=job.id, type=EventType.REDRIVEN, data=previous)
    session.flush()
    return job
