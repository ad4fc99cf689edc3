"""The recovery sweep: nothing submitted is lost, whatever happens to the broker or a worker.

Run every few seconds by the scheduler (one sweeper at a time, through an advisory lock):
1. when the broker lost its messages (Redis flushed, or restarted without its data: the
   marker kept there is gone), every queued job it holds no message for is sent again at
   once, due or not (workers/core/broker.py, `LossMarker`); the scheduler also asks every
   second between sweeps, so that they wait a second, not a sweep interval;
2. running jobs whose heartbeat went stale (worker killed, machine gone) are queued again,
   counting the attempt and a crash; a job that crashed its worker `max_crashes` times, or
   has no attempts left, is failed with the reason in its history. The messages a dead
   worker had fetched and not started go back to their queue about as soon (its Dramatiq
   heartbeat times out after the same HEARTBEAT_STALE_S), not when Dramatiq gets round to it;
3. queued jobs that are due yet untouched for `queued_stale_s` are sent again when their
   message is gone: never sent (the enqueue failed), or the broker's queue is empty (a loss
   the marker could not tell, or on RabbitMQ). Long-waiting jobs are sent again after ten
   times that threshold even if the queue is busy; a duplicate delivery is harmless (the
   claim takes a job once).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass

from models.core import job_runs, recovery
from models.core.base import utcnow
from models.core.recovery import LostBy, Redelivery
from workers.core.broker import LossMarker, queue_depth
from workers.core.enqueue import Dispatch
from workers.core.registry import queues
from workers.core.setup import Platform

log = logging.getLogger("backline.recovery")
BUSY_QUEUE_FACTOR = 10
# Jobs sent again per transaction after a broker loss: the first are on their way while the
# next are written.
RESEND_CHUNK = 1000


@dataclass(frozen=True)
class SweepReport:
    recovered_running: int = 0
    quarantined: int = 0
    resent_queued: int = 0
    skipped: bool = False
    # Sent again because the broker lost its messages.
    resent_lost: int = 0


def sweep(platform: Platform, *, recover_running: bool = True) -> SweepReport:
    """One pass of the sweep; returns what it did.

    `recover_running=False` skips taking back running jobs (the scheduler does so right after
    it lost the database: heartbeats could not land meanwhile either).
    """
    settings = platform.settings
    try:
        resent_lost = resend_after_broker_loss(platform)
    except Exception:
        log.warning("could not ask the broker whether it lost its messages", exc_info=True)
        resent_lost = 0
    reclaim_from_dead_workers(platform)
    # Read before any row is locked: a slow broker must not hold the jobs the workers want.
    depths = _queue_depths(platform)
    with platform.sessions.begin() as session:
        if not recovery.try_sweep_lock(session=session):
            return SweepReport(skipped=True, resent_lost=resent_lost)
        again, failed = (
            recovery.stale_running(
                session=session,
                stale_s=settings.heartbeat_stale_s,
                max_crashes=settings.max_crashes,
            )
            if recover_running
            else ([], [])
        )
        candidates = recovery.lost_queued(
            session=session, stale_s=settings.queued_stale_s, busy_factor=BUSY_QUEUE_FACTOR
        )
        lost = [c for c in candidates if c.never_sent or c.long_waiting or depths.get(c.queue) == 0]
        resent = recovery.requeue_lost(session=session, job_ids=[c.job_id for c in lost])
    # Sent after the commit: the rows say "queued" before any worker can see a message.
    _send(platform, [*again, *resent])
    _announce(platform, failed)
    report = SweepReport(len(again), len(failed), len(resent), resent_lost=resent_lost)
    if again or failed or resent:
        log.warning("recovery sweep acted", extra=report.__dict__)
    return report


def resend_after_broker_loss(platform: Platform) -> int:
    """If the broker lost its messages since the last look, send again every queued job it
    holds no message for, at once; returns how many were sent.

    The marker is put back first, so a loss during this pass is seen at the next; if this
    pass fails, it is taken away again, so the next look tries again. A job whose message
    reached the broker after the loss is found there and left alone: only those whose
    message was on its way during this pass, or held in a worker's memory, get a second one
    (which claims nothing).
    """
    marker = platform.dispatcher.capabilities.loss_marker
    if marker is None or not marker.place():
        return 0
    try:
        return _resend_lost(platform, marker)
    except BaseException:
        with contextlib.suppress(Exception):
            marker.remove()
        raise


def _resend_lost(platform: Platform, marker: LossMarker) -> int:
    before = utcnow()
    held = marker.held_jobs(queues())
    with platform.sessions.begin() as session:
        candidates = recovery.queued_before(session=session, before=before)
    lost = [job_id for job_id in candidates if str(job_id) not in held]
    resent = 0
    for first in range(0, len(lost), RESEND_CHUNK):
        with platform.sessions.begin() as session:
            redeliveries = recovery.requeue_lost(
                session=session,
                job_ids=lost[first : first + RESEND_CHUNK],
                lost_by=LostBy.BROKER_LOST,
                before=before,
            )
        _send(platform, redeliveries)
        resent += len(redeliveries)
    if resent:
        log.warning(
            "the broker lost its messages (its marker was gone); queued jobs sent again",
            extra={"resent": resent, "held": len(held)},
        )
    else:  # a first start, or a loss while nothing waited
        log.info("recovery marker placed in the broker; no queued job had lost its message")
    return resent


def _send(platform: Platform, redeliveries: list[Redelivery]) -> None:
    """Send the jobs' messages; note in their rows those the broker refused, so the next
    sweep sends them at once (never sent)."""
    dispatches = [
        Dispatch(r.job_id, r.kind, r.queue, r.message_id, r.priority, r.delay_ms)
        for r in redeliveries
    ]
    sent = set(platform.dispatcher.send(dispatches))
    unsent = [d.job_id for d in dispatches if d.job_id not in sent]
    if unsent:
        with platform.sessions.begin() as session:
            job_runs.mark_not_enqueued(session=session, job_ids=unsent)
    _announce(platform, [d.job_id for d in dispatches])


def _announce(platform: Platform, job_ids: list[uuid.UUID]) -> None:
    """Tell the jobs' followers, and their organisations' (a sweep acts seldom: the
    organisations are looked up then, rather than carried through every query)."""
    if not job_ids:
        return
    with platform.sessions() as session:
        org_ids = recovery.orgs_of(session=session, job_ids=job_ids)
    platform.changes.publish(job_ids, org_ids)


def reclaim_from_dead_workers(platform: Platform) -> None:
    """Give the messages that dead worker processes had fetched and not acknowledged back to
    their queues (Dramatiq itself does it only when one call in a thousand happens to)."""
    reclaim = platform.dispatcher.capabilities.reclaim
    if reclaim is None:
        return
    for queue in queues():
        try:
            reclaim(queue)
        except Exception:
            log.warning("could not reclaim dead workers' messages", extra={"queue": queue})


def _queue_depths(platform: Platform) -> dict[str, int]:
    """Messages the broker holds per job queue (-1 where it could not tell)."""
    depths = {}
    for queue in queues():
        try:
            depths[queue] = queue_depth(platform.broker, queue)
        except Exception:
            log.warning("could not read queue depth", extra={"queue": queue}, exc_info=True)
            depths[queue] = -1
    return depths
