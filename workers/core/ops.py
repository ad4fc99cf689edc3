"""What an operator can see and do with the job platform, for the admin API and its page.

Reads combine the jobs table with what only the broker and Redis know (queue depth, the
workers alive). Each action writes its audit entry in the caller's transaction and, where it
queues jobs again, sends their messages after the commit (the dispatcher), so the audit log,
the jobs and the broker never disagree. Actions do not count against the organisations'
daily quotas: operators act for the platform.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from models.core import ops, ops_stats
from models.core.access import Viewer
from models.core.errors import NotFound
from models.core.jobs import Job, get_job, request_cancel
from models.core.ops import OpsAction, RedriveRequest
from models.core.ops_stats import QueueCounts
from workers.core import enqueue, presence
from workers.core.broker import queue_depth
from workers.core.registry import queues
from workers.core.setup import Platform

log = logging.getLogger("backline.ops")


@dataclass(frozen=True)
class QueueState:
    name: str
    depth: int | None  # messages the broker holds (None: the broker did not answer)
    counts: QueueCounts
    paused: bool
    paused_at: datetime | None = None
    paused_by: uuid.UUID | None = None
    pause_reason: str | None = None


def known_queue(name: str) -> str:
    if name not in queues():
        raise NotFound("queue not found", details={"queue": name})
    return name


def queue_states(*, session: Session, platform: Platform) -> list[QueueState]:
    """Every queue of the registry: broker depth, job counts by state, paused or not."""
    counts = ops_stats.queue_counts(session=session)
    paused = ops.paused_queues(session=session)
    states = []
    for name in sorted(queues()):
        try:
            depth: int | None = queue_depth(platform.broker, name)
        except Exception:
            log.warning("could not read queue depth", extra={"queue": name}, exc_info=True)
            depth = None
        pause = paused.get(name)
        states.append(
            QueueState(
                name=name,
                depth=depth,
                counts=counts.get(name, QueueCounts()),
                paused=pause is not None,
                paused_at=pause.paused_at if pause else None,
                paused_by=pause.paused_by if pause else None,
                pause_reason=pause.reason if pause else None,
            )
        )
    return states


@dataclass(frozen=True)
class WorkerState:
    presence: presence.Presence
    jobs: list[Job]


def workers_alive(*, session: Session, platform: Platform) -> list[WorkerState]:
    """The workers whose presence record is live, with the jobs each is running."""
    client = presence.client_for(platform.settings.redis_url)
    try:
        alive = presence.alive(client, platform.settings.broker_namespace)
    finally:
        client.close()
    held = ops_stats.running_jobs_of(session=session, worker_ids=[p.worker_id for p in alive])
    return [WorkerState(p, held[p.worker_id]) for p in alive]


def _admin(actor_id: uuid.UUID) -> Viewer:
    return Viewer(user_id=actor_id, is_admin=True)


def retry_job(
    *,
    session: Session,
    platform: Platform,
    actor_id: uuid.UUID,
    job_id: uuid.UUID,
    reason: str | None,
) -> Job:
    """Queue a failed or cancelled job again (Conflict otherwise), audited."""
    job = get_job(
        session=session, job_id=job_id, viewer=_admin(actor_id), lock=True, include_internal=True
    )
    previous = job.status.value
    enqueue.redrive(session=session, dispatcher=platform.dispatcher, job=job)
    ops.record(
        session=session,
        actor_id=actor_id,
        action=OpsAction.RETRY,
        target=f"job:{job.id}",
        details={"job_ids": [str(job.id)], "previous_status": previous, "reason": reason},
    )
    return job


def cancel_job(
    *, session: Session, actor_id: uuid.UUID, job_id: uuid.UUID, reason: str | None
) -> Job:
    """Cancel a queued job, or ask a running one to stop (Conflict if finished), audited."""
    job = get_job(
        session=session, job_id=job_id, viewer=_admin(actor_id), lock=True, include_internal=True
    )
    previous = job.status.value
    request_cancel(session=session, job=job)
    ops.record(
        session=session,
        actor_id=actor_id,
        action=OpsAction.CANCEL,
        target=f"job:{job.id}",
        details={"job_ids": [str(job.id)], "previous_status": previous, "reason": reason},
    )
    return job


@dataclass(frozen=True)
class RedriveReport:
    redriven: list[uuid.UUID]
    remaining: int  # failed jobs of the kind (or of all kinds) still in the dead-letter set


def redrive_dead_letter(
    *,
    session: Session,
    platform: Platform,
    actor_id: uuid.UUID,
    request: RedriveRequest,
    reason: str | None,
) -> RedriveReport:
    """Queue again up to `request.limit` failed jobs (by id, or the oldest of a kind), audited.

    One bounded batch per call, in one transaction: a caller clearing a large dead-letter set
    repeats the call while `remaining` is above zero.
    """
    batch = ops.dead_letter_batch(session=session, request=request)
    for job in batch:
        enqueue.redrive(session=session, dispatcher=platform.dispatcher, job=job)
    ids = [job.id for job in batch]
    ops.record(
        session=session,
        actor_id=actor_id,
        action=OpsAction.REDRIVE,
        target=ops.audit_target(request),
        details={
            "kind": request.kind,
            "requested_ids": [str(i) for i in request.job_ids],
            "job_ids": [str(i) for i in ids],
            "count": len(ids),
            "reason": reason,
        },
    )
    remaining = ops.dead_letter_count(session=session, kind=request.kind)
    return RedriveReport(ids, remaining)


def set_paused(
    *, session: Session, actor_id: uuid.UUID, queue: str, paused: bool, reason: str | None
) -> bool:
    """Pause or resume a queue, audited; returns whether its state changed."""
    known_queue(queue)
    if paused:
        changed = ops.pause_queue(session=session, queue=queue, actor_id=actor_id, reason=reason)
    else:
        changed = ops.resume_queue(session=session, queue=queue)
    ops.record(
        session=session,
        actor_id=actor_id,
        action=OpsAction.PAUSE if paused else OpsAction.RESUME,
        target=f"queue:{queue}",
        details={"changed": changed, "reason": reason},
    )
    return changed
