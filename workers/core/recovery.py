"""The recovery sweep: nothing submitted is lost, whatever happens to the broker or a worker.

Run every few seconds by the scheduler (one sweeper at a time, through an advisory lock):
1. running jobs whose heartbeat went stale (worker killed, machine gone) are queued again,
   counting the attempt and a crash; a job that crashed its worker `max_crashes` times, or
   has no attempts left, is failed with the reason in its history;
2. queued jobs that are due yet untouched for `queued_stale_s` are sent again when their
   message is gone: never sent (the enqueue failed), or the broker's queue is empty (Redis
   flushed or restarted without its data). Long-waiting jobs are sent again after ten times
   that threshold even if the queue is busy; a duplicate delivery is harmless (the claim
   takes a job once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from models.core import job_runs, recovery
from workers.core.broker import queue_depth
from workers.core.enqueue import Dispatch
from workers.core.registry import queues
from workers.core.setup import Platform

log = logging.getLogger("backline.recovery")
BUSY_QUEUE_FACTOR = 10


@dataclass(frozen=True)
class SweepReport:
    recovered_running: int = 0
    quarantined: int = 0
    resent_queued: int = 0
    skipped: bool = False


def sweep(platform: Platform, *, recover_running: bool = True) -> SweepReport:
    """One pass of the sweep; returns what it did.

    `recover_running=False` skips taking back running jobs (the scheduler does so right after
    it lost the database: heartbeats could not land meanwhile either).
    """
    settings = platform.settings
    # Read before any row is locked: a slow broker must not hold the jobs the workers want.
    depths = _queue_depths(platform)
    with platform.sessions.begin() as session:
        if not recovery.try_sweep_lock(session=session):
            return SweepReport(skipped=True)
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
    dispatches = [
        Dispatch(r.job_id, r.kind, r.queue, r.message_id, r.priority) for r in [*again, *resent]
    ]
    sent = set(platform.dispatcher.send(dispatches))
    unsent = [d.job_id for d in dispatches if d.job_id not in sent]
    if unsent:  # next sweep: never sent, so resent at once
        with platform.sessions.begin() as session:
            job_runs.mark_not_enqueued(session=session, job_ids=unsent)
    platform.changes.publish([d.job_id for d in dispatches] + failed)
    report = SweepReport(len(again), len(failed), len(resent))
    if again or failed or resent:
        log.warning("recovery sweep acted", extra=report.__dict__)
    return report


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
