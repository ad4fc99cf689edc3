"""How an attempt ends, other than in success: failed, cancelled, queued again for a retry
or because its worker stopped."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from models.core.job_runs.claimed import ClaimedJob, as_json
from models.core.jobs import EventType, JobStatus


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
            "result": as_json(result),
            "error": as_json(error),
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
            "error": as_json(error),
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
