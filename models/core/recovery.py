"""The queries of the recovery sweep: find jobs the broker lost and jobs whose worker died.

Both run in the scheduler process every few seconds. Jobs whose worker died count the attempt
and a crash; a job that has crashed its worker `max_crashes` times is a poison message and is
failed with the reason in its history instead of being handed to the next worker. Queued
jobs whose message is lost are sent again with a new message id, each with the reason in its
history: `message_missing` (found by waiting too long) or `broker_lost` (the broker said it
lost its messages).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

SWEEP_LOCK_KEY = 0x6261636B6C696E65  # "backline": one sweeper at a time across machines


class LostBy(enum.Enum):
    """How the sweep found that a queued job's message was lost (its `recovered` event says)."""

    MESSAGE_MISSING = "the broker did not deliver the job; sent again"
    BROKER_LOST = "the broker lost its messages (flushed, or restarted without them); sent again"

    @property
    def reason(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Redelivery:
    """A job whose message must be sent again."""

    job_id: uuid.UUID
    kind: str
    queue: str
    message_id: str
    priority: int
    never_sent: bool = False
    long_waiting: bool = False
    # Not due yet: its message is to be delayed this long.
    delay_ms: int | None = None


def try_sweep_lock(*, session: Session) -> bool:
    """Take the transaction-scoped sweep lock; False if another scheduler holds it."""
    return bool(
        session.execute(
            text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SWEEP_LOCK_KEY}
        ).scalar()
    )


def stale_running(
    *, session: Session, stale_s: float, max_crashes: int, limit: int = 500
) -> tuple[list[Redelivery], list[uuid.UUID]]:
    """Take back running jobs whose heartbeat is older than `stale_s`.

    Returns the jobs to send again and the ids of those it finished: failed (poisoned or out
    of attempts) or cancelled (a cancel was requested while they ran).
    """
    rows = session.execute(
        text(
            """
            WITH stale AS (
                SELECT id FROM jobs
                WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => :stale)
                ORDER BY heartbeat_at LIMIT :limit FOR UPDATE SKIP LOCKED
            ), j AS (
                UPDATE jobs SET
                    crashes = crashes + 1,
                    status = CASE
                        WHEN cancel_requested_at IS NOT NULL THEN 'cancelled'::job_status
                        WHEN crashes + 1 >= :max_crashes OR attempts >= max_attempts
                             THEN 'failed'::job_status
                        ELSE 'queued'::job_status END,
                    error = CASE
                        WHEN cancel_requested_at IS NOT NULL THEN error
                        WHEN crashes + 1 >= :max_crashes THEN jsonb_build_object(
                            'type', 'PoisonMessage', 'transient', false, 'message',
                            'the job stopped its worker ' || (crashes + 1) || ' times; quarantined')
                        WHEN attempts >= max_attempts THEN jsonb_build_object(
                            'type', 'WorkerLost', 'transient', true, 'message',
                            'the worker running the last attempt stopped responding')
                        ELSE error END,
                    finished_at = CASE WHEN cancel_requested_at IS NOT NULL
                                            OR crashes + 1 >= :max_crashes
                                            OR attempts >= max_attempts
                                       THEN now() END,
                    lease_id = NULL, heartbeat_at = NULL, run_after = now(), updated_at = now(),
                    enqueued_at = now(), message_id = jobs.id::text || '.' || attempts || 'r'
                FROM stale WHERE jobs.id = stale.id
                RETURNING jobs.id, jobs.kind, jobs.queue, jobs.status, jobs.message_id,
                          jobs.priority, jobs.worker_id, jobs.attempts, jobs.crashes
            ), e AS (
                INSERT INTO job_events (job_id, type, message, data)
                SELECT id, CASE status WHEN 'failed' THEN 'failed'
                                       WHEN 'cancelled' THEN 'cancelled'
                                       ELSE 'recovered' END,
                       CASE status
                            WHEN 'cancelled' THEN 'worker lost; the job had been cancelled'
                            WHEN 'failed'
                            THEN CASE WHEN crashes >= :max_crashes
                                      THEN 'quarantined: the job stopped its worker '
                                           || crashes || ' times'
                                      ELSE 'worker lost on the last attempt' END
                            ELSE 'worker stopped heartbeating; job queued again' END,
                       jsonb_build_object('reason', 'stale_heartbeat', 'worker', worker_id,
                                          'attempt', attempts, 'crashes', crashes)
                FROM j
            )
            SELECT * FROM j
            """
        ),
        {"stale": stale_s, "max_crashes": max_crashes, "limit": limit},
    ).all()
    again = [
        Redelivery(r.id, r.kind, r.queue, r.message_id, r.priority)
        for r in rows
        if r.status == "queued"
    ]
    failed = [r.id for r in rows if r.status != "queued"]
    return again, failed


def lost_queued(
    *, session: Session, stale_s: float, busy_factor: int = 10, limit: int = 1000
) -> list[Redelivery]:
    """Due queued jobs that no worker took within `stale_s` (candidates, not yet changed).

    Jobs of paused queues wait on purpose: their messages go round the broker's delay queue.

    `never_sent`: the broker never accepted a message for it; `long_waiting`: due for more
    than `busy_factor` times the threshold.
    """
    rows = session.execute(
        text(
            """
            SELECT id, kind, queue, message_id, priority, enqueued_at IS NULL AS never_sent,
                   run_after <= now() - make_interval(secs => :stale * :factor) AS long_waiting
            FROM jobs
            WHERE status = 'queued' AND run_after <= now() - make_interval(secs => :stale)
              AND coalesce(enqueued_at, created_at) <= now() - make_interval(secs => :stale)
              AND queue NOT IN (SELECT queue FROM queue_pauses)
            ORDER BY priority DESC, run_after LIMIT :limit FOR UPDATE SKIP LOCKED
            """
        ),
        {"stale": stale_s, "factor": busy_factor, "limit": limit},
    ).all()
    return [
        Redelivery(r.id, r.kind, r.queue, r.message_id, r.priority, r.never_sent, r.long_waiting)
        for r in rows
    ]


def queued_before(*, session: Session, before: datetime) -> list[uuid.UUID]:
    """Queued jobs (due or not, paused queues too) whose latest message was sent before
    `before`, or never sent; the highest priority and the earliest due first."""
    return list(
        session.scalars(
            text(
                """
                SELECT id FROM jobs
                WHERE status = 'queued' AND coalesce(enqueued_at, created_at) < :before
                ORDER BY priority DESC, run_after
                """
            ),
            {"before": before},
        )
    )


def requeue_lost(
    *,
    session: Session,
    job_ids: list[uuid.UUID],
    lost_by: LostBy = LostBy.MESSAGE_MISSING,
    before: datetime | None = None,
) -> list[Redelivery]:
    """Give lost queued jobs a new message id and record their recovery.

    With `before`, a job whose message was sent again since (a retry, say) is left alone.
    """
    if not job_ids:
        return []
    rows = session.execute(
        text(
            """
            WITH j AS (
                UPDATE jobs SET enqueued_at = now(), updated_at = now(),
                       message_id = id::text || '.'
                           || (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                WHERE id = ANY(:ids) AND status = 'queued'
                  AND (CAST(:before AS timestamptz) IS NULL
                       OR coalesce(enqueued_at, created_at) < :before)
                RETURNING id, kind, queue, message_id, priority, run_after
            ), e AS (
                INSERT INTO job_events (job_id, type, message, data)
                SELECT id, 'recovered', CAST(:message AS text),
                       jsonb_build_object('reason', CAST(:reason AS text))
                FROM j
            )
            SELECT id, kind, queue, message_id, priority,
                   CASE WHEN run_after > now()
                        THEN ceil(extract(epoch FROM run_after - now()) * 1000)::bigint
                   END AS delay_ms
            FROM j
            """
        ),
        {"ids": job_ids, "before": before, "message": lost_by.value, "reason": lost_by.reason},
    ).all()
    return [
        Redelivery(r.id, r.kind, r.queue, r.message_id, r.priority, delay_ms=r.delay_ms)
        for r in rows
    ]


def orgs_of(*, session: Session, job_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """The organisations these jobs belong to (each once; internal jobs have none)."""
    rows = session.execute(
        text("SELECT DISTINCT org_id FROM jobs WHERE id = ANY(:ids) AND org_id IS NOT NULL"),
        {"ids": job_ids},
    )
    return list(rows.scalars())
