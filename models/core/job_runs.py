"""The state changes a job goes through while a worker holds it.

The batched statements find and lock their rows one by one through the primary key (a
LATERAL subquery, which re-checks its conditions on the newest row version if it had to wait
for a lock), then update them by id. Joined as a set with the status condition instead, the
planner would trust the queued-jobs partial index, whose statistics lag behind a burst of
submissions, and scan every queued job for a handful of claims.

Each change is one statement that updates the job row and appends its event together (a
data-modifying CTE), so a worker needs one round trip per change. Every change after the claim
is fenced by the lease the claim handed out: if the recovery sweep gave the job to another
worker (its heartbeat went stale), the first worker's late writes match no row and are dropped.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from models.core.jobs import EventType, JobStatus


class Hold(enum.Enum):
    """Where a running attempt stands, as its worker learns it from the job's row."""

    HELD = "held"  # still this worker's, and nobody asked to cancel it
    CANCEL_REQUESTED = "cancel requested"  # still this worker's; someone asked to cancel it
    LOST = "lost"  # no longer this worker's (the sweep gave it to another, or it finished)

    @classmethod
    def of(cls, cancel_requested: bool) -> Hold:
        """The hold of a job whose row this worker's lease still matches."""
        return cls.CANCEL_REQUESTED if cancel_requested else cls.HELD


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker needs to know about a job it now holds."""

    id: uuid.UUID
    kind: str
    params: dict[str, Any]
    attempts: int
    max_attempts: int
    checkpoint: dict[str, Any] | None
    lease_id: uuid.UUID
    request_id: str | None


# The claim and success statements, in the driver's own parameter style: the worker's state
# writer sends them over a plain psycopg connection as prepared statements; sessions send them
# with exec_driver_sql. A batch of claims only, of successes only, or of both (one statement,
# one commit) joins the parts it needs.
_CLAIM_PARTS = """
    creq AS (
        SELECT * FROM unnest(%(claim_ids)s::uuid[]) WITH ORDINALITY AS r(id, n)
    ), ctarget AS (
        SELECT j.id, creq.n FROM creq CROSS JOIN LATERAL (
            SELECT jobs.id FROM jobs WHERE jobs.id = creq.id AND jobs.status = 'queued'
              AND jobs.run_after <= now() + interval '1 second'
            FOR UPDATE
        ) AS j
    ), claimed AS (
        UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_id = gen_random_uuid(),
               worker_id = %(worker)s, started_at = now(), heartbeat_at = now(),
               updated_at = now()
        FROM ctarget
        WHERE jobs.id = ctarget.id
        RETURNING jobs.id, jobs.kind, jobs.params, jobs.attempts, jobs.max_attempts,
                  jobs.checkpoint, jobs.request_id, jobs.lease_id, ctarget.n
    )"""
_CLAIM_EVENTS = """
        SELECT id, 'started',
               jsonb_build_object('attempt', attempts, 'worker', %(worker)s::text)
        FROM claimed"""
_CLAIM_ROWS = """
    SELECT true AS claim, id, kind, params, attempts, max_attempts, checkpoint, request_id,
           lease_id, n
    FROM claimed"""
_SUCCESS_PARTS = """
    sreq AS (
        SELECT id, lease, nullif(result, 'null') AS result
        FROM ROWS FROM (unnest(%(done_ids)s::uuid[]), unnest(%(done_leases)s::uuid[]),
                        jsonb_array_elements(%(results)s::jsonb)) AS r(id, lease, result)
    ), starget AS (
        SELECT j.id, sreq.lease, sreq.result FROM sreq CROSS JOIN LATERAL (
            SELECT jobs.id FROM jobs
            WHERE jobs.id = sreq.id AND jobs.lease_id = sreq.lease AND jobs.status = 'running'
            FOR UPDATE
        ) AS j
    ), done AS (
        UPDATE jobs SET status = 'succeeded', result = starget.result, error = NULL,
               finished_at = now(), updated_at = now(), lease_id = NULL, heartbeat_at = NULL,
               progress_done = coalesce(progress_total, progress_done)
        FROM starget
        WHERE jobs.id = starget.id
        RETURNING jobs.id, jobs.attempts, starget.lease
    )"""
_SUCCESS_EVENTS = """
        SELECT id, 'succeeded', jsonb_build_object('attempt', attempts)
        FROM done"""
_SUCCESS_ROWS = """
    SELECT false AS claim, id, NULL::text AS kind, NULL::jsonb AS params, attempts,
           NULL::int AS max_attempts, NULL::jsonb AS checkpoint, NULL::text AS request_id,
           lease AS lease_id, NULL::bigint AS n
    FROM done"""


def _batch_sql(claims: bool, successes: bool) -> str:
    parts = [p for p, on in ((_CLAIM_PARTS, claims), (_SUCCESS_PARTS, successes)) if on]
    events = [e for e, on in ((_CLAIM_EVENTS, claims), (_SUCCESS_EVENTS, successes)) if on]
    rows = [r for r, on in ((_CLAIM_ROWS, claims), (_SUCCESS_ROWS, successes)) if on]
    return (
        "WITH"
        + ",".join(parts)
        + ", events AS (\n        INSERT INTO job_events (job_id, type, data)"
        + "\n        UNION ALL".join(events)
        + "\n    )"
        + "\n    UNION ALL".join(rows)
    )


# Keyed by (any claims, any successes).
BATCH_SQL = {(c, s): _batch_sql(c, s) for c in (True, False) for s in (True, False) if c or s}


@dataclass(frozen=True)
class Batch:
    """One group of claims and successes, ready to send as one statement."""

    sql: str
    params: dict[str, Any]
    claims: int
    successes: list[ClaimedJob]

    def answers(self, rows: list[Any]) -> tuple[list[ClaimedJob | None], list[bool]]:
        """Each claim's job (None: not there to take) and each success's held flag."""
        won = {row.n: row for row in rows if row.claim}  # by the claim's place, from 1
        # By job and lease: a late success from a lease that moved on is not held, even if
        # the job's current holder succeeded in the same batch.
        finished = {(row.id, row.lease_id) for row in rows if not row.claim}
        claimed = [_claimed(won[n]) if n in won else None for n in range(1, self.claims + 1)]
        return claimed, [(job.id, job.lease_id) in finished for job in self.successes]


def batch(
    *, worker_id: str, claims: list[uuid.UUID], successes: list[tuple[ClaimedJob, Any]]
) -> Batch:
    """The statement that claims some jobs and marks others succeeded (one round trip).

    A claim takes a queued, due job and marks it running; its answer is None if the job is
    not there to take: every duplicate delivery lands there (the job already ran, is running
    elsewhere, was cancelled, or is not due yet). If one job is asked for twice, one request
    gets it. A success stores the job's result; its answer is False if this worker no longer
    holds the job (the lease moved on).
    """
    params: dict[str, Any] = {"worker": worker_id}
    # Arrays go as literals and results as one JSON array: a text parameter each, which the
    # driver sends as it is (adapting a list element by element cost more than the query).
    if claims:
        params.update(claim_ids=_uuid_array(claims))
    if successes:
        params.update(
            done_ids=_uuid_array(job.id for job, _ in successes),
            done_leases=_uuid_array(job.lease_id for job, _ in successes),
            results=json.dumps([result for _, result in successes], default=str),
        )
    return Batch(
        BATCH_SQL[bool(claims), bool(successes)],
        params,
        len(claims),
        [job for job, _ in successes],
    )


def _uuid_array(ids: Iterable[uuid.UUID]) -> str:
    return "{" + ",".join(map(str, ids)) + "}"


def apply_batch(
    *,
    session: Session,
    worker_id: str,
    claims: list[uuid.UUID],
    successes: list[tuple[ClaimedJob, Any]],
) -> tuple[list[ClaimedJob | None], list[bool]]:
    """`batch` sent through a session (the worker's state writer sends it on its own)."""
    work = batch(worker_id=worker_id, claims=claims, successes=successes)
    rows = session.connection().exec_driver_sql(work.sql, work.params).all()
    return work.answers(list(rows))


def _claimed(row: Any) -> ClaimedJob:
    return ClaimedJob(
        id=row.id,
        kind=row.kind,
        params=row.params,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        checkpoint=row.checkpoint,
        lease_id=row.lease_id,
        request_id=row.request_id,
    )


def claim(*, session: Session, job_id: uuid.UUID, worker_id: str) -> ClaimedJob | None:
    """Take a queued, due job and mark it running; None if it is not there to take."""
    claimed, _ = apply_batch(session=session, worker_id=worker_id, claims=[job_id], successes=[])
    return claimed[0]


def succeed(*, session: Session, job: ClaimedJob, result: Any) -> bool:
    """Mark the job succeeded with its result; False if this worker no longer holds it."""
    _, held = apply_batch(session=session, worker_id="", claims=[], successes=[(job, result)])
    return held[0]


def _finish(
    session: Session,
    job: ClaimedJob,
    status: JobStatus,
    event: EventType,
    *,
    result: Any = None,
    error: dict[str, Any] | None = None,
    message: str | None = None,
) -> bool:
    row = session.execute(
        text(
            """
            WITH j AS (
                UPDATE jobs SET status = CAST(:status AS job_status),
                       result = CAST(:result AS jsonb),
                       error = CAST(:error AS jsonb), finished_at = now(), updated_at = now(),
                       lease_id = NULL, heartbeat_at = NULL
                WHERE id = :id AND lease_id = :lease AND status = 'running'
                RETURNING id, attempts
            )
            INSERT INTO job_events (job_id, type, message, data)
            SELECT id, :event, :message, jsonb_build_object('attempt', attempts) FROM j
            RETURNING job_id
            """
        ),
        {
            "id": job.id,
            "lease": job.lease_id,
            "status": status.value,
            "event": event.value,
            "result": _json(result),
            "error": _json(error),
            "message": message,
        },
    ).first()
    return row is not None


def fail(*, session: Session, job: ClaimedJob, error: dict[str, Any]) -> bool:
    """Mark the job failed for good (it is now in the dead-letter set)."""
    return _finish(
        session, job, JobStatus.FAILED, EventType.FAILED, error=error, message=error.get("message")
    )


def cancel(*, session: Session, job: ClaimedJob) -> bool:
    return _finish(
        session, job, JobStatus.CANCELLED, EventType.CANCELLED, message="cancelled while running"
    )


def schedule_retry(
    *, session: Session, job: ClaimedJob, error: dict[str, Any], delay_s: float
) -> str | None:
    """Put the job back in the queue to run again after `delay_s`; the new message id.

    None if this worker no longer holds the job, or if a cancel was requested.
    """
    row = session.execute(
        text(
            """
            WITH j AS (
                UPDATE jobs SET status = 'queued', error = CAST(:error AS jsonb), lease_id = NULL,
                       heartbeat_at = NULL, updated_at = now(), enqueued_at = now(),
                       run_after = now() + make_interval(secs => :delay),
                       message_id = id::text || '.' || attempts
                WHERE id = :id AND lease_id = :lease AND status = 'running'
                  AND cancel_requested_at IS NULL
                RETURNING id, attempts, run_after, message_id
            ), e AS (
                INSERT INTO job_events (job_id, type, message, data)
                SELECT id, 'retry_scheduled', :message,
                       jsonb_build_object('attempt', attempts, 'delay_s', CAST(:delay AS float8),
                                          'run_after', run_after)
                FROM j
            )
            SELECT message_id FROM j
            """
        ),
        {
            "id": job.id,
            "lease": job.lease_id,
            "error": _json(error),
            "delay": delay_s,
            "message": error.get("message"),
        },
    ).first()
    return None if row is None else row.message_id


def requeue_interrupted(
    *, session: Session, job: ClaimedJob, delay_s: float
) -> tuple[str, int] | None:
    """Put a job its worker stopped back in the queue, due after `delay_s`, this attempt not
    counted (its checkpoint stays, so it resumes there); the new message's id and the job's
    priority.

    None if this worker no longer holds the job, or if a cancel was requested (checked in
    the same statement, so a cancel cannot slip in between and leave the job queued).
    """
    row = session.execute(
        text(
            """
            WITH j AS (
                UPDATE jobs SET status = 'queued', attempts = attempts - 1, lease_id = NULL,
                       heartbeat_at = NULL, updated_at = now(), enqueued_at = now(),
                       run_after = now() + make_interval(secs => :delay),
                       message_id = id::text || '.' || lease_id::text
                WHERE id = :id AND lease_id = :lease AND status = 'running'
                  AND cancel_requested_at IS NULL
                RETURNING id, attempts, message_id, priority, worker_id
            ), e AS (
                INSERT INTO job_events (job_id, type, message, data)
                SELECT id, 'interrupted', 'the worker shut down; queued again',
                       jsonb_build_object('attempt', attempts + 1, 'worker', worker_id)
                FROM j
            )
            SELECT message_id, priority FROM j
            """
        ),
        {"id": job.id, "lease": job.lease_id, "delay": delay_s},
    ).first()
    return None if row is None else (row.message_id, row.priority)


def interruptions(*, session: Session, job_id: uuid.UUID) -> int:
    """How many times workers that stopped have queued this job again (since it was last
    redriven: a redrive starts its counts afresh)."""
    return int(
        session.execute(
            text(
                """
                SELECT count(*) FROM job_events
                WHERE job_id = :id AND type = 'interrupted'
                  AND id > coalesce((SELECT max(id) FROM job_events
                                     WHERE job_id = :id AND type = 'redriven'), 0)
                """
            ),
            {"id": job_id},
        ).scalar_one()
    )


def record_progress(
    *,
    session: Session,
    job: ClaimedJob,
    done: int,
    total: int | None,
    message: str | None,
    milestone: int | None = None,
) -> Hold:
    """Store progress; returns the job's hold (whether a cancel was requested, or LOST)."""
    row = session.execute(
        text(
            """
            WITH j AS (
                UPDATE jobs SET progress_done = CAST(:done AS bigint),
                       progress_total = CAST(:total AS bigint),
                       progress_message = CAST(:message AS text),
                       heartbeat_at = now(), updated_at = now()
                WHERE id = :id AND lease_id = :lease AND status = 'running'
                RETURNING id, cancel_requested_at IS NOT NULL AS cancel_requested
            ), e AS (
                INSERT INTO job_events (job_id, type, message, data)
                SELECT id, 'progress', CAST(:message AS text),
                       jsonb_build_object('done', CAST(:done AS bigint),
                                          'total', CAST(:total AS bigint),
                                          'percent', CAST(:milestone AS int))
                FROM j WHERE CAST(:milestone AS int) IS NOT NULL
            )
            SELECT cancel_requested FROM j
            """
        ),
        {
            "id": job.id,
            "lease": job.lease_id,
            "done": done,
            "total": total,
            "message": message[:500] if message else None,
            "milestone": milestone,
        },
    ).first()
    return Hold.LOST if row is None else Hold.of(row.cancel_requested)


def cancel_requested(*, session: Session, job: ClaimedJob) -> Hold:
    """Whether a cancel was requested, as the job's hold (LOST: no longer this worker's)."""
    row = session.execute(
        text(
            "SELECT cancel_requested_at IS NOT NULL AS c FROM jobs "
            "WHERE id = :id AND lease_id = :lease AND status = 'running'"
        ),
        {"id": job.id, "lease": job.lease_id},
    ).first()
    return Hold.LOST if row is None else Hold.of(row.c)


def heartbeat(*, session: Session, leases: dict[uuid.UUID, uuid.UUID]) -> dict[uuid.UUID, Hold]:
    """Refresh the heartbeat of the jobs this process holds, in one statement.

    Returns {job id: HELD or CANCEL_REQUESTED} for the jobs still held; a job missing from the
    answer was taken away (recovered elsewhere or finished): it is LOST.
    """
    if not leases:
        return {}
    rows = session.execute(
        text(
            """
            UPDATE jobs SET heartbeat_at = now()
            FROM unnest(CAST(:ids AS uuid[]), CAST(:leases AS uuid[])) AS h(id, lease)
            WHERE jobs.id = h.id AND jobs.lease_id = h.lease AND jobs.status = 'running'
            RETURNING jobs.id, jobs.cancel_requested_at IS NOT NULL AS cancel_requested
            """
        ),
        {"ids": list(leases), "leases": list(leases.values())},
    ).all()
    return {row.id: Hold.of(row.cancel_requested) for row in rows}


def save_checkpoint(*, session: Session, job: ClaimedJob, state: dict[str, Any]) -> bool:
    row = session.execute(
        text(
            "UPDATE jobs SET checkpoint = CAST(:state AS jsonb), heartbeat_at = now() "
            "WHERE id = :id AND lease_id = :lease AND status = 'running' RETURNING id"
        ),
        {"id": job.id, "lease": job.lease_id, "state": _json(state)},
    ).first()
    return row is not None


def effect_result(*, session: Session, job_id: uuid.UUID, key: str) -> tuple[bool, Any]:
    """(done, result) of an effect recorded in the job's ledger."""
    row = session.execute(
        text("SELECT result FROM job_effects WHERE job_id = :id AND key = :key"),
        {"id": job_id, "key": key},
    ).first()
    return (False, None) if row is None else (True, row.result)


def record_effect(*, session: Session, job_id: uuid.UUID, key: str, result: Any) -> None:
    session.execute(
        text(
            "INSERT INTO job_effects (job_id, key, result) "
            "VALUES (:id, :key, CAST(:result AS jsonb)) "
            "ON CONFLICT (job_id, key) DO NOTHING"
        ),
        {"id": job_id, "key": key, "result": _json(result)},
    )


def redact_params(*, session: Session, job_id: uuid.UUID, fields: dict[str, str]) -> None:
    """Overwrite some of a job's params (a mailed secret, once the mail is out)."""
    session.execute(
        text("UPDATE jobs SET params = params || CAST(:patch AS jsonb) WHERE id = :id"),
        {"id": job_id, "patch": _json(fields)},
    )


def mark_not_enqueued(*, session: Session, job_ids: list[uuid.UUID]) -> None:
    """Note that the broker refused these jobs' messages (the sweep sends them)."""
    if job_ids:
        session.execute(
            text("UPDATE jobs SET enqueued_at = NULL WHERE id = ANY(:ids) AND status = 'queued'"),
            {"ids": job_ids},
        )
