"""Storing new jobs: one INSERT for the row and its `queued` event, and idempotency keys
(a repeat of the same request returns the job the first one made)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb
from sqlalchemy import (
    bindparam,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.core.db import Prepared
from models.core.errors import Conflict
from models.core.ids import uuid7
from models.core.jobs.tables import (
    SNAPSHOT,
    EventType,
    Job,
    JobEvent,
    JobSnapshot,
)


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
    return Prepared.compile(insert(Job).values(values).returning(*SNAPSHOT).add_cte(queued))


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
    select(*SNAPSHOT).where(
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
