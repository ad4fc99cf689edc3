"""The bookkeeping every job gets, so no job kind can forget it.

For each message: claim the job (a duplicate delivery claims nothing and stops there), run the
kind's handler with a JobContext, then record the outcome: succeeded with its result; cancelled;
queued again after a backoff for a transient failure with attempts left; failed (the
dead-letter set) otherwise; or, when the worker shuts down, queued again without counting
the attempt. Meanwhile the job's lease is kept alive by the heartbeat
(workers/core/heartbeat.py); a success goes to the database and the broker through the
hand-off (workers/core/handoff.py).
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from dramatiq.middleware import TimeLimitExceeded
from marshmallow import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from models.core import job_runs
from models.core.job_runs import ClaimedJob, Hold
from workers.core.changes import ChangeFeed
from workers.core.context import JobContext
from workers.core.enqueue import Dispatch, Dispatcher
from workers.core.errors import (
    JobCancelled,
    JobInterrupted,
    LeaseLost,
    PermanentError,
    Verdict,
    classify,
    describe,
)
from workers.core.handoff import HandOff
from workers.core.heartbeat import Heartbeat
from workers.core.presence import Announcer
from workers.core.registry import JobKind
from workers.core.statewriter import StateWriter

log = logging.getLogger("backline.worker")
T = TypeVar("T")
MAX_RESULT_BYTES = 256 * 1024
MAX_RETRY_AFTER_S = 24 * 3600
RESUME_DELAY_S = 1.0  # an interrupted job is due again this long after its worker let it go


def backoff_s(kind: JobKind, attempt: int, retry_after_s: float | None = None) -> float:
    """Exponential backoff with jitter for the retry after `attempt`, never below Retry-After."""
    ceiling = min(kind.max_backoff_ms, kind.min_backoff_ms * 2 ** max(0, attempt - 1)) / 1000
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, MAX_RETRY_AFTER_S))
    return delay


class Runtime:
    """A worker process's connection to the platform: sessions, dispatcher, held leases."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        dispatcher: Dispatcher,
        changes: ChangeFeed,
        *,
        job_sessions: sessionmaker[Session] | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        # Job code's own transactions (the state changes above are single autocommit ones).
        self.job_sessions = job_sessions or sessions
        self.dispatcher = dispatcher
        self.changes = changes
        self.writer = StateWriter(settings.database_url, changes)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        announcer = Announcer(
            settings.redis_url, settings.broker_namespace, settings.heartbeat_interval_s
        )
        self.heartbeat = Heartbeat(sessions, announcer, settings.heartbeat_interval_s)
        self.handoff = HandOff(self.writer, self.heartbeat, dispatcher.capabilities.pending_acks)
        # When the worker began to shut down, plus the grace: from then on, running jobs that
        # check in are queued again (None: not shutting down).
        self._interrupt_at: float | None = None
        # Threads running a kind's handler, as opposed to the platform's bookkeeping around it.
        self._in_job_code = 0
        self._in_job_code_lock = threading.Lock()

    def start_heartbeat(self, queues: list[str] | None = None) -> None:
        """Start beating for held jobs, and announce this worker (on `queues`) in Redis."""
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self._interrupt_at = None
        self.heartbeat.start(self.worker_id, queues or [])

    def close(self) -> None:
        """Write what is handed over, stop the heartbeat and close the database connections."""
        self.writer.stop()  # first: jobs whose success is still queued keep beating meanwhile
        self.heartbeat.stop()
        bind = self.sessions.kw.get("bind")
        if bind is not None:
            bind.dispose()

    def begin_shutdown(self) -> None:
        """The worker is stopping: running jobs have `worker_shutdown_grace_s` to finish, then
        each is queued again at its next check-in (progress, sleep, cancellation check)."""
        grace_s = self.settings.worker_shutdown_grace_s
        self._interrupt_at = time.monotonic() + grace_s
        running = self.heartbeat.held()
        if running:
            log.info(
                "worker shutting down: running jobs have %g s to finish, then are queued "
                "again at their next check-in",
                grace_s,
                extra={"running": running},
            )

    def running_job_code(self) -> int:
        """How many threads are running a job's own code right now."""
        return self._in_job_code

    def interrupting(self) -> bool:
        """Whether a running job should stop now and be queued again (see begin_shutdown)."""
        at = self._interrupt_at
        return at is not None and time.monotonic() >= at

    # -- running a job ---------------------------------------------------------------------
    def write(self, job: ClaimedJob, change: Callable[[Session], T]) -> T:
        """Apply one change to `job` in its own transaction, then tell the waiting clients."""
        with self.sessions.begin() as session:
            outcome = change(session)
        # None (or LOST, from a progress report): nothing changed (not claimed, or the lease
        # is gone).
        if outcome is not None and outcome is not Hold.LOST:
            self.changes.publish([job.id], [job.org_id])
        return outcome

    def perform(self, kind: JobKind, job_id: str) -> None:
        """Run one delivery of a message for job `job_id` of `kind`."""
        try:
            jid = uuid.UUID(job_id)
        except ValueError:
            log.error("message with a malformed job id dropped", extra={"job_id": job_id})
            return
        job = self.writer.claim(jid, self.worker_id)
        if job is None:
            log.debug(
                "nothing to do (duplicate delivery, finished, cancelled or not due)",
                extra={"job_id": job_id},
            )
            return
        self.heartbeat.hold(job)
        extra = {
            "job_id": job_id,
            "kind": kind.name,
            "attempt": job.attempts,
            "request_id": job.request_id,
        }
        log.info("job started", extra=extra)
        started = time.perf_counter()
        outcome: str | None = "lost"
        try:
            outcome = self._run(kind, job, extra, started)
        finally:
            self.handoff.release(kind, job, outcome, started)

    def _run(
        self, kind: JobKind, job: ClaimedJob, extra: dict[str, Any], started: float
    ) -> str | None:
        """Run the attempt and record it; returns its outcome (the metrics' label).

        None: the success was handed over, and what follows is the hand-off's.
        """
        try:
            with self._running_job_code():
                result = kind.handler(JobContext(self, job), _loaded_params(kind, job.params))
            result = _checked_result(result)
        except JobCancelled:
            self.write(job, lambda s: job_runs.cancel(session=s, job=job))
            log.info("job cancelled", extra=extra)
            return "cancelled"
        except JobInterrupted:
            return self._requeue_interrupted(kind, job, extra)
        except LeaseLost:
            log.warning(
                "job taken over by another worker; this attempt's outcome dropped", extra=extra
            )
            return "lost"
        except TimeLimitExceeded as exc:
            return self._failed(kind, job, exc, Verdict(True), extra)
        except Exception as exc:
            return self._failed(kind, job, exc, classify(exc), extra)
        return self.handoff.succeed(kind, job, result, extra, started)

    @contextmanager
    def _running_job_code(self) -> Iterator[None]:
        with self._in_job_code_lock:
            self._in_job_code += 1
        try:
            yield
        finally:
            with self._in_job_code_lock:
                self._in_job_code -= 1

    def _cancel_was_requested(self, job: ClaimedJob) -> bool:
        """Asked on failure, so a cancelled job is not queued for another attempt."""
        try:
            with self.sessions.begin() as session:
                hold = job_runs.cancel_requested(session=session, job=job)
                return hold is Hold.CANCEL_REQUESTED
        except Exception:
            return False

    def _requeue_interrupted(self, kind: JobKind, job: ClaimedJob, extra: dict[str, Any]) -> str:
        """The worker is stopping: queue the job again, for another worker (or this one,
        restarted) to resume from its checkpoint. A cancel request wins."""
        # Due a little later, not at once: until their wait for a message ends
        # (WORKER_IDLE_POLL_MS), the stopping worker's idle threads may still take one.
        delay_s = max(RESUME_DELAY_S, 2 * self.settings.worker_idle_poll_ms / 1000)
        requeued = self.write(
            job, lambda s: job_runs.requeue_interrupted(session=s, job=job, delay_s=delay_s)
        )
        if requeued is None:
            return self._cancel_if_held(job, extra)
        message_id, priority = requeued
        self._send_again(
            Dispatch(job.id, kind.name, kind.queue, message_id, priority, int(delay_s * 1000))
        )
        log.info("worker shutting down; job queued again", extra=extra)
        return "interrupted"

    def _cancel_if_held(self, job: ClaimedJob, extra: dict[str, Any]) -> str:
        """The job could not be queued again: a cancel was requested (so it ends cancelled),
        or this worker no longer holds it."""
        if self.write(job, lambda s: job_runs.cancel(session=s, job=job)):
            log.info("job cancelled", extra=extra)
            return "cancelled"
        return "lost"

    def _send_again(self, dispatch: Dispatch) -> None:
        """Send the message of a job queued again. If the broker refuses it, say so in the
        database, so that the sweep sends it at its next pass rather than much later."""
        if self.dispatcher.send([dispatch]):
            return
        try:
            with self.sessions.begin() as session:
                job_runs.mark_not_enqueued(session=session, job_ids=[dispatch.job_id])
        except Exception:
            log.warning("could not record the failed enqueue", exc_info=True)

    def _failed(
        self,
        kind: JobKind,
        job: ClaimedJob,
        exc: BaseException,
        verdict: Verdict,
        extra: dict[str, Any],
    ) -> str:
        error = describe(exc, verdict, traceback.format_exc())
        if self._cancel_was_requested(job):
            self.write(job, lambda s: job_runs.cancel(session=s, job=job))
            log.info("job failed after a cancel request; cancelled", extra=extra)
            return "cancelled"
        if verdict.transient and job.attempts < job.max_attempts:
            delay = backoff_s(kind, job.attempts, verdict.retry_after_s)
            message_id = self.write(
                job,
                lambda s: job_runs.schedule_retry(session=s, job=job, error=error, delay_s=delay),
            )
            if message_id is None:
                return self._cancel_if_held(job, extra)
            log.warning(
                "job failed; retry scheduled",
                extra={**extra, "error": error["message"], "delay_s": round(delay, 3)},
            )
            self._send_again(
                Dispatch(
                    job.id, kind.name, kind.queue, message_id, delay_ms=max(1, int(delay * 1000))
                )
            )
            return "retried"
        self.write(job, lambda s: job_runs.fail(session=s, job=job, error=error))
        log.error(
            "job failed", extra={**extra, "error": error["message"], "transient": verdict.transient}
        )
        return "failed"


def _loaded_params(kind: JobKind, params: dict[str, Any]) -> dict[str, Any]:
    """The stored params as the kind's schema loads them (defaults filled, types parsed)."""
    try:
        return dict(kind.schema.load(params))
    except ValidationError as exc:
        raise PermanentError(f"stored params no longer fit the job kind: {exc.messages}") from None


def _checked_result(result: Any) -> Any:
    """The handler's result, if it can be stored as JSON within the size limit."""
    try:
        # PostgreSQL's jsonb takes neither NaN/Infinity nor NUL characters.
        encoded = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PermanentError(f"job result is not JSON: {exc}") from None
    if "\\u0000" in encoded:
        raise PermanentError("job result contains a NUL character")
    if len(encoded) > MAX_RESULT_BYTES:
        raise PermanentError(f"job result is larger than {MAX_RESULT_BYTES} bytes")
    return result
