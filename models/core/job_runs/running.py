"""What a running job writes as it goes: progress, heartbeats, checkpoints, its effects
ledger, redacted params, and a lost enqueue."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from models.core.job_runs.claimed import ClaimedJob, Hold, as_json


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
        {"id": job.id, "lease": job.lease_id, "state": as_json(state)},
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
        {"id": job_id, "key": key, "result": as_json(result)},
    )


def redact_params(*, session: Session, job_id: uuid.UUID, fields: dict[str, str]) -> None:
    """Overwrite some of a job's params (a mailed secret, once the mail is out)."""
    session.execute(
        text("UPDATE jobs SET params = params || CAST(:patch AS jsonb) WHERE id = :id"),
        {"id": job_id, "patch": as_json(fields)},
    )


def mark_not_enqueued(*, session: Session, job_ids: list[uuid.UUID]) -> None:
    """Note that the broker refused these jobs' messages (the sweep sends them)."""
    if job_ids:
        session.execute(
            text("UPDATE jobs SET enqueued_at = NULL WHERE id = ANY(:ids) AND status = 'queued'"),
            {"ids": job_ids},
        )
