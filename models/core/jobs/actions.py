"""What clients do to a job: cancel it, or queue a failed or cancelled one again."""

from __future__ import annotations

from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.core.errors import Conflict
from models.core.jobs.tables import (
    EventType,
    Job,
    JobStatus,
    add_event,
)


def request_cancel(*, session: Session, job: Job) -> Job:
    """Cancel a queued job now; ask a running one to stop at its next check.

    The request is a flag in the database, so it holds whichever worker has the job and
    survives restarts of every process.
    """
    if job.status.finished:
        raise Conflict(f"job is already {job.status.value}", details={"status": job.status.value})
    now = utcnow()
    if job.status == JobStatus.QUEUED:
        job.status = JobStatus.CANCELLED
        job.finished_at = now
        job.cancel_requested_at = now
        add_event(
            session=session,
            job_id=job.id,
            type=EventType.CANCELLED,
            message="cancelled before it started",
        )
    elif job.cancel_requested_at is None:
        job.cancel_requested_at = now
        add_event(session=session, job_id=job.id, type=EventType.CANCEL_REQUESTED)
    job.updated_at = now
    session.flush()
    return job


def redrive(*, session: Session, job: Job) -> Job:
    """Queue a failed or cancelled job again with a fresh set of attempts."""
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise Conflict(
            f"only failed or cancelled jobs can be retried; this one is {job.status.value}",
            details={"status": job.status.value},
        )
    now = utcnow()
    # The history is shown to every member: the traceback stays with operators.
    error = {k: v for k, v in (job.error or {}).items() if k != "traceback"} or None
    previous = {"status": job.status.value, "attempts": job.attempts, "error": error}
    job.status = JobStatus.QUEUED
    job.attempts = 0
    job.crashes = 0
    job.error = None
    job.result = None
    job.cancel_requested_at = None
    job.lease_id = None
    job.worker_id = None
    job.heartbeat_at = None
    job.started_at = None
    job.finished_at = None
    job.enqueued_at = now  # sent right after the commit, like a new job
    job.run_after = now
    job.updated_at = now
    job.message_id = f"{job.id}.{int(now.timestamp() * 1000)}"
    add_event(session=session, job_id=job.id, type=EventType.REDRIVEN, data=previous)
    session.flush()
    return job
