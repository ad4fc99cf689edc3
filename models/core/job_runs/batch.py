"""Claims and successes, the two changes every job makes, as batched statements: the state
writer (workers/core/statewriter.py) sends many in one statement and one commit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from models.core.job_runs.claimed import ClaimedJob

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
                  jobs.checkpoint, jobs.request_id, jobs.lease_id, jobs.org_id, ctarget.n
    )"""
_CLAIM_EVENTS = """
        SELECT id, 'started',
               jsonb_build_object('attempt', attempts, 'worker', %(worker)s::text)
        FROM claimed"""
_CLAIM_ROWS = """
    SELECT true AS claim, id, kind, params, attempts, max_attempts, checkpoint, request_id,
           lease_id, org_id, n
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
           lease AS lease_id, NULL::uuid AS org_id, NULL::bigint AS n
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
        org_id=row.org_id,
    )


def claim(*, session: Session, job_id: uuid.UUID, worker_id: str) -> ClaimedJob | None:
    """Take a queued, due job and mark it running; None if it is not there to take."""
    claimed, _ = apply_batch(session=session, worker_id=worker_id, claims=[job_id], successes=[])
    return claimed[0]


def succeed(*, session: Session, job: ClaimedJob, result: Any) -> bool:
    """Mark the job succeeded with its result; False if this worker no longer holds it."""
    _, held = apply_batch(session=session, worker_id="", claims=[], successes=[(job, result)])
    return held[0]
