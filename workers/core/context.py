"""What job code gets to talk to the platform: progress, cancellation, checkpoints, effects.

def handler(ctx: JobContext, params: dict) -> dict:
    state = ctx.checkpoint or {"page": 0}
    for page in range(state["page"], 10):
        ctx.progress(page, 10, f"page {page}")   # raises JobCancelled when asked (and
                                                 # JobInterrupted when the worker stops)
        ctx.effect(f"mail:{page}", lambda: send(page))  # done once, even across retries
        ctx.save_checkpoint({"page": page + 1})   # a retry or a restart resumes here
    return {"pages": 10}
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from models.core import job_runs
from models.core.job_runs import ClaimedJob, Hold
from workers.core.errors import JobCancelled, JobInterrupted, LeaseLost

if TYPE_CHECKING:
    from workers.core.enqueue import Dispatcher
    from workers.core.tracking import Runtime

T = TypeVar("T")
PROGRESS_WRITE_INTERVAL_S = 0.25
CANCEL_CHECK_INTERVAL_S = 1.0
# A job queued again this many times by stopping workers runs on through the next stop: a
# job that gets its workers stopped (their health checks failing under it, say) must not
# escape the crash count that quarantines it (MAX_CRASHES).
MAX_INTERRUPTIONS = 5
MILESTONES = (25, 50, 75)


class JobContext:
    """Handed to every job handler, bound to one attempt of one job."""

    def __init__(self, runtime: Runtime, job: ClaimedJob) -> None:
        self._runtime = runtime
        self._job = job
        self._last_write = 0.0
        self._last_cancel_check = time.monotonic()
        self._milestone = 0
        self._interruptible = True

    @functools.cached_property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger bound to the job (made on first use: most jobs never log)."""
        return logging.LoggerAdapter(
            logging.getLogger(f"backline.job.{self._job.kind}"),
            {
                "job_id": str(self._job.id),
                "attempt": self._job.attempts,
                "request_id": self._job.request_id,
            },
        )

    @property
    def settings(self) -> Settings:
        return self._runtime.settings

    @property
    def sessions(self) -> sessionmaker[Session]:
        """Sessions for the job's own reads and writes: `with ctx.sessions.begin() as s:`.

        Jobs submitted in such a transaction are sent once it commits, as from the API."""
        return self._runtime.job_sessions

    @property
    def dispatcher(self) -> Dispatcher:
        """Sends the jobs job code submits, once its transaction commits."""
        return self._runtime.dispatcher

    @property
    def job_id(self) -> str:
        return str(self._job.id)

    @property
    def org_id(self) -> uuid.UUID | None:
        """The organisation the job belongs to (None for the platform's own jobs)."""
        return self._job.org_id

    @property
    def attempt(self) -> int:
        """1 on the first run, 2 on the first retry, and so on."""
        return self._job.attempts

    @property
    def checkpoint(self) -> dict[str, Any] | None:
        """The state the last attempt saved, or None on a fresh start."""
        return self._job.checkpoint

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Report progress; writes are throttled. A cancel request raises JobCancelled, and a
        worker shutting down JobInterrupted (as `check_cancelled` does)."""
        now = time.monotonic()
        milestone = self._crossed_milestone(done, total)
        finished = total is not None and done >= total
        if (
            milestone is None
            and not finished
            and now - self._last_write < PROGRESS_WRITE_INTERVAL_S
        ):
            self.check_cancelled()
            return
        if not finished:  # a job about to return is let finish
            self._raise_if_interrupted()  # before the write, as in check_cancelled
        self._last_write = now
        message = message.replace("\x00", "") if message else message
        hold = self._runtime.write(
            self._job,
            lambda session: job_runs.record_progress(
                session=session,
                job=self._job,
                done=done,
                total=total,
                message=message,
                milestone=milestone,
            ),
        )
        self._last_cancel_check = now
        self._raise_if(hold)

    def check_cancelled(self) -> None:
        """Raise JobCancelled if someone asked to cancel this job (cheap; call it often).

        Also raises JobInterrupted once the worker is shutting down and the job's grace is
        over: the job is then queued again, and resumes from its last checkpoint.
        """
        hold = self._runtime.heartbeat.hold_of(self._job.id)
        if hold is not Hold.HELD:
            self._raise_if(hold)
        # Before the database is asked about a cancel: a stopping worker must not wait on a
        # database that may be gone (and a cancel still wins, when the job is queued again).
        self._raise_if_interrupted()
        now = time.monotonic()
        if now - self._last_cancel_check >= CANCEL_CHECK_INTERVAL_S:
            self._last_cancel_check = now
            with self._runtime.sessions.begin() as session:
                self._raise_if(job_runs.cancel_requested(session=session, job=self._job))

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Store where the job is, so a retry or a recovered run resumes from there."""
        with self._runtime.sessions.begin() as session:
            if not job_runs.save_checkpoint(session=session, job=self._job, state=state):
                raise LeaseLost("this worker no longer holds the job")
        self._job = _with_checkpoint(self._job, state)

    def effect(self, key: str, action: Callable[[], T]) -> T:
        """Run `action` once for this job: a retry that reaches the same key gets its result.

        The ledger entry is written right after the action returns; a crash between the two
        repeats the action, so effects are at-least-once at that one point and exactly-once
        everywhere else. Give the other side an idempotency key too where it takes one.
        """
        with self._runtime.sessions() as session:
            done, result = job_runs.effect_result(session=session, job_id=self._job.id, key=key)
        if done:
            self.log.info("effect already done; skipped", extra={"effect": key})
            return result  # type: ignore[no-any-return]
        result = action()
        with self._runtime.sessions.begin() as session:
            job_runs.record_effect(session=session, job_id=self._job.id, key=key, result=result)
        return result

    def redact_params(self, fields: dict[str, str]) -> None:
        """Replace params that must not outlive their use (a token in a mail, once sent)."""
        with self._runtime.sessions.begin() as session:
            job_runs.redact_params(session=session, job_id=self._job.id, fields=fields)

    def sleep(self, seconds: float) -> None:
        """Wait, waking early with JobCancelled if the job is cancelled meanwhile (or with
        JobInterrupted if the worker is shutting down)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))
            self.check_cancelled()

    def _crossed_milestone(self, done: int, total: int | None) -> int | None:
        if not total:
            return None
        percent = 100 * done / total
        crossed = [m for m in MILESTONES if self._milestone < m <= percent]
        if not crossed:
            return None
        self._milestone = crossed[-1]
        return crossed[-1]

    def _raise_if_interrupted(self) -> None:
        if not self._interruptible or not self._runtime.interrupting():
            return
        try:
            with self._runtime.sessions() as session:
                times = job_runs.interruptions(session=session, job_id=self._job.id)
        except Exception:  # not a failure of the job's: stop it, as the worker is stopping
            self.log.warning("could not count the job's interruptions", exc_info=True)
            times = 0
        if times >= MAX_INTERRUPTIONS:
            self._interruptible = False
            self.log.warning(
                "worker shutting down; this job was queued again %d times already, so it runs on",
                times,
            )
            return
        raise JobInterrupted("the worker is shutting down")

    def _raise_if(self, hold: Hold) -> None:
        if hold is Hold.LOST:
            raise LeaseLost("this worker no longer holds the job")
        if hold is Hold.CANCEL_REQUESTED:
            raise JobCancelled("the job was cancelled")


def _with_checkpoint(job: ClaimedJob, state: dict[str, Any]) -> ClaimedJob:
    return replace(job, checkpoint=state)
