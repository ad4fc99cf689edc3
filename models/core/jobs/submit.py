"""Storing new jobs: one INSERT for the row and its `queued` event (one for a whole batch),
and idempotency keys (a repeat of the same request returns the job the first one made)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb
from sqlalchemy import any_, bindparam, cast, func, insert, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
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
    *, session: Session, owner_id: uuid.UUID, org_id: uuid.UUID, news: Sequence[NewJob]
) -> list[tuple[JobSnapshot, bool]]:
    """Store many queued jobs and their first events in one statement, whatever their number;
    returns (job, created) for each, in the order of `news`.

    Idempotency keys work as in `create_job`: an item whose key the owner already used gets
    the job that key made (created False). Keys used for a different request, or in another
    organisation, are one Conflict naming every such item by its position in `news`
    (details.items: {"3": {"idempotency_key": [why]}}). Keys must differ within `news`.
    """
    keys = [new.idempotency_key for new in news if new.idempotency_key is not None]
    if len(set(keys)) != len(keys):
        raise ValueError("two jobs of one batch have the same idempotency key")
    rows = [_new_values(owner_id, org_id, new) for new in news]
    inserted = _insert_jobs(session, owner_id, org_id, rows)
    # The others were not inserted: an earlier job holds their key (committed before, or by a
    # concurrent transaction the INSERT waited for).
    taken = [
        new.idempotency_key
        for new, (job, _) in zip(news, rows, strict=True)
        if job["id"] not in inserted and new.idempotency_key is not None
    ]
    existing = _by_idempotency_keys(session, owner_id, taken)
    results: list[tuple[JobSnapshot, bool]] = []
    conflicts: dict[str, dict[str, list[str]]] = {}
    for index, (new, (job, _)) in enumerate(zip(news, rows, strict=True)):
        if job["id"] in inserted:
            results.append((inserted[job["id"]], True))
            continue
        held = existing.get(new.idempotency_key or "")
        if held is None:  # the job holding the key was deleted since the INSERT
            raise RuntimeError("a job's idempotency key was taken, and then free again")
        mismatch = _mismatch(held, new, org_id)
        if mismatch is _OTHER_ORGANIZATION:
            conflicts[str(index)] = {"idempotency_key": [mismatch]}
        elif mismatch is not None:
            conflicts[str(index)] = {"idempotency_key": [f"{mismatch}: job {held.id}"]}
        results.append((held, False))
    if conflicts:
        raise Conflict(
            "some items' idempotency keys were already used for other requests",
            details={"items": conflicts},
        )
    return results


def _build_insert_jobs() -> Prepared:
    """INSERT jobs from one array per column, skipping those whose idempotency key is taken,
    RETURNING them, with their first events: one statement (and one plan) for any number."""
    columns = Job.__table__.c
    per_job = [name for name in _JOB_COLUMNS if name not in ("owner_id", "org_id")]
    arrays = [cast(bindparam(f"new_{name}"), ARRAY(columns[name].type)) for name in per_job]
    arrays.append(cast(bindparam("new_event_data"), ARRAY(JSONB)))
    unnested = func.unnest(*arrays).table_valued(*per_job, "event_data", with_ordinality="position")
    new = select(unnested.render_derived(name="n")).cte("new")
    values: dict[str, Any] = {name: new.c[name] for name in per_job}
    values["owner_id"] = bindparam("owner_id", type_=columns.owner_id.type)
    values["org_id"] = bindparam("org_id", type_=columns.org_id.type)
    values["run_after"] = func.coalesce(new.c.run_after, func.now())
    rows = select(*values.values()).order_by(new.c.position)
    jobs = (
        pg_insert(Job)
        .from_select(list(values), rows)
        .on_conflict_do_nothing(constraint="uq_jobs_owner_idempotency_key")
        .returning(*SNAPSHOT)
        .cte("inserted")
    )
    queued = insert(JobEvent).from_select(
        ["job_id", "type", "data"],
        select(jobs.c.id, literal(EventType.QUEUED.value), new.c.event_data).join(
            new, new.c.id == jobs.c.id
        ),
    )
    return Prepared.compile(select(jobs).add_cte(queued.cte("queued_events")))


_INSERT_JOBS = _build_insert_jobs()


def _insert_jobs(
    session: Session,
    owner_id: uuid.UUID,
    org_id: uuid.UUID,
    rows: list[tuple[dict[str, Any], dict[str, Any]]],
) -> dict[uuid.UUID, JobSnapshot]:
    """Insert jobs (and their events) unless their idempotency key is taken; the inserted
    ones by id."""
    # In key order: two batches sharing keys then wait for each other's rows in the same
    # order, rather than each holding a row the other waits for (a deadlock).
    rows = sorted(rows, key=lambda row: row[0]["idempotency_key"] or "")
    params: dict[str, Any] = {
        f"new_{name}": [job.get(name) for job, _ in rows]
        for name in _JOB_COLUMNS
        if name not in ("owner_id", "org_id")
    }
    params["new_params"] = [Jsonb(job["params"]) for job, _ in rows]
    params["new_event_data"] = [
        None if event.get("data") is None else Jsonb(event["data"]) for _, event in rows
    ]
    params.update(owner_id=owner_id, org_id=org_id)
    inserted = _INSERT_JOBS.fetchall(session, params, JobSnapshot.from_row)
    return {job.id: job for job in inserted}


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


_BY_IDEMPOTENCY_KEYS = Prepared.compile(
    select(*SNAPSHOT).where(
        Job.owner_id == bindparam("owner_id"),
        Job.idempotency_key == any_(cast(bindparam("keys"), ARRAY(Job.idempotency_key.type))),
    )
)


def _by_idempotency_keys(
    session: Session, owner_id: uuid.UUID, keys: list[str]
) -> dict[str, JobSnapshot]:
    """The owner's jobs that hold these keys, by key."""
    if not keys:
        return {}
    params = {"owner_id": owner_id, "keys": keys}
    jobs = _BY_IDEMPOTENCY_KEYS.fetchall(session, params, JobSnapshot.from_row)
    return {job.idempotency_key: job for job in jobs if job.idempotency_key is not None}


def _same_request(existing: JobSnapshot, new: NewJob, org_id: uuid.UUID | None) -> JobSnapshot:
    mismatch = _mismatch(existing, new, org_id)
    if mismatch is _OTHER_ORGANIZATION:
        raise Conflict(f"this Idempotency-Key was {mismatch}")
    if mismatch is not None:
        raise Conflict(f"this Idempotency-Key was {mismatch}", details={"job_id": str(existing.id)})
    return existing


_OTHER_ORGANIZATION = "already used in another organization; use a new key"


def _mismatch(existing: JobSnapshot, new: NewJob, org_id: uuid.UUID | None) -> str | None:
    """Why `existing` cannot answer `new`, which came with its idempotency key (None if it can)."""
    if existing.org_id != org_id:
        # Keys are the submitter's, but a replay must not hand over a job of an organisation
        # the caller acts outside of (one they may have left since).
        return _OTHER_ORGANIZATION
    if existing.kind != new.kind or existing.params != new.params:
        return "already used for a different request"
    return None
