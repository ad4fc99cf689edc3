"""A job's success, from the worker thread that ran it to the database and then the broker.

A worker thread that has run a job hands the success to the state writer
(workers/core/statewriter.py) and goes on to the next message without waiting for it to be
written. When Dramatiq then acknowledges the message, the consumer asks here first
(`PendingAcks.defer`): if the success is already written the acknowledgement goes at once;
otherwise it waits, and the writer's follow-up thread sends it once the success is in (or
once writing it failed: the job's fate is then in the database, where the sweep finds it).
With a broker that cannot hold an acknowledgement back (RabbitMQ: see
`BrokerCapabilities.pending_acks`), the worker thread writes the success and waits for it.

What holds, whichever way it goes:
- The message is never acknowledged (nor dead-lettered) before its job's success is
  committed, or has failed to be for good.
- A crash in between leaves the message with the broker, which delivers it again: its claim
  finds the job finished (and does nothing), or still running, for the sweep to recover as
  after any crash.
- Until the success is written the job's lease stays held, and beating: the sweep does not
  hand the job to another worker meanwhile.
- Exactly one party lets go of the lease and counts the outcome: the worker thread for a job
  not handed over, the follow-up thread for one that was (`Heartbeat.release` answers True
  once per lease).
- The acknowledgement is sent once: by the consumer, or by the follow-up thread
  (`PendingAck` decides, under its lock).
- A hand-over cut short (a time limit raised in the worker thread on the way) still lets go
  of the job and of the acknowledgement, once whatever the writer holds is written.

Waiting on the writer took a worker thread a third of the time it spent per job, and woke it
once more than needed.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dramatiq.middleware import CurrentMessage

from models.core.job_runs import ClaimedJob
from workers.core.metrics import observe_job
from workers.core.registry import JobKind
from workers.core.statewriter import SuccessWrite

if TYPE_CHECKING:
    from workers.core.heartbeat import Heartbeat
    from workers.core.statewriter import StateWriter

log = logging.getLogger("backline.worker")


class PendingAck:
    """A message's acknowledgement, held until its job's success is written."""

    __slots__ = ("_lock", "_written", "_ack")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._written = False
        self._ack: Callable[[], None] | None = None

    def hold(self, ack: Callable[[], None]) -> bool:
        """Keep `ack` until the success is written; False if it is already (ack now)."""
        with self._lock:
            if self._written:
                return False
            self._ack = ack
            return True

    def written(self) -> None:
        """The success is written (or failed for good): send the ack if one is waiting."""
        with self._lock:
            self._written = True
            ack, self._ack = self._ack, None
        if ack is not None:
            ack()


class PendingAcks:
    """The acknowledgements that wait on a success, by the message they are for.

    Keyed by the message object Dramatiq hands to both the job and the consumer, so that two
    deliveries of one message can never take each other's place.
    """

    def __init__(self) -> None:
        self._by_message: dict[int, tuple[Any, PendingAck]] = {}

    def add(self, message: Any, pending: PendingAck | None = None) -> PendingAck:
        pending = pending or PendingAck()
        self._by_message[id(message)] = (message, pending)
        return pending

    def pop(self, message: Any) -> PendingAck | None:
        entry = self._by_message.pop(id(message), None)
        return None if entry is None else entry[1]

    def defer(self, message: Any, send: Callable[[], None]) -> bool:
        """The consumer acknowledges (or dead-letters) `message`: True if `send` now waits
        for the job's success to be written; False if nothing waits (send it now)."""
        pending = self.pop(message)
        return pending is not None and pending.hold(send)

    def __len__(self) -> int:
        return len(self._by_message)


class HandOff:
    """A worker process's successes on their way from the worker thread to the broker."""

    def __init__(
        self, writer: StateWriter, heartbeat: Heartbeat, pending_acks: PendingAcks | None
    ) -> None:
        self.writer = writer
        self.heartbeat = heartbeat
        self.pending_acks = pending_acks
        # Leases of jobs whose success was handed to the writer and is not written yet: they
        # stay held (and beating) until it is.
        self._handing_over: set[uuid.UUID] = set()

    def succeed(
        self, kind: JobKind, job: ClaimedJob, result: Any, extra: dict[str, Any], started: float
    ) -> str | None:
        """Record the attempt's success; returns its outcome (the metrics' label).

        None: the success was handed to the writer, and what follows is `_succeeded`'s.
        """
        pending_acks = self.pending_acks
        message = CurrentMessage.get_current_message()
        if pending_acks is not None and message is not None:
            # Written in the background; the message's ack waits for it.
            pending = PendingAck()
            took_s = time.perf_counter() - started
            queued = False
            try:
                self._handing_over.add(job.lease_id)
                pending_acks.add(message, pending)
                self.writer.succeed_soon(
                    job,
                    result,
                    lambda written: self._succeeded(kind, job, extra, took_s, written, pending),
                )
                queued = True
            finally:
                if not queued:
                    # Interrupted on the way (a time limit, say): let go of the job and the ack
                    # once whatever the writer holds is written, the success too if it got there.
                    self.writer.after_queued(
                        lambda: self._let_go(kind, job, extra, took_s, pending)
                    )
            return None
        written = self.writer.succeed(job, result)
        return self._outcome(written, extra)

    def release(self, kind: JobKind, job: ClaimedJob, outcome: str | None, started: float) -> None:
        """The worker thread is done with the attempt: let go of the lease and count the
        outcome, unless the success was handed over (the follow-up thread does it then)."""
        # A job handed over stays held (and beats) until its success lands. Whoever lets go
        # of the lease counts the outcome, once.
        handed_over = job.lease_id in self._handing_over
        if outcome is not None and not handed_over and self.heartbeat.release(job):
            observe_job(kind.name, outcome, time.perf_counter() - started)

    def _succeeded(
        self,
        kind: JobKind,
        job: ClaimedJob,
        extra: dict[str, Any],
        took_s: float,
        written: SuccessWrite,
        pending: PendingAck,
    ) -> None:
        """A success handed to the writer is written (or writing it failed)."""
        try:
            self._handing_over.discard(job.lease_id)
            if self.heartbeat.release(job):
                observe_job(kind.name, self._outcome(written, extra), took_s)
        finally:
            pending.written()

    def _let_go(
        self,
        kind: JobKind,
        job: ClaimedJob,
        extra: dict[str, Any],
        took_s: float,
        pending: PendingAck,
    ) -> None:
        """After an interrupted hand-over: unless its success got written, drop the job."""
        if job.lease_id in self._handing_over:  # the success never reached the writer
            self._succeeded(kind, job, extra, took_s, SuccessWrite.FAILED, pending)
        else:
            pending.written()

    @staticmethod
    def _outcome(written: SuccessWrite, extra: dict[str, Any]) -> str:
        if written is SuccessWrite.WRITTEN:
            log.info("job succeeded", extra=extra)
            return "succeeded"
        if written is SuccessWrite.FAILED:
            # Still running in the database, and no longer beating: the sweep runs it again.
            log.error("could not record the job's success; it will run again", extra=extra)
        else:
            log.warning("job finished after it was taken over; result dropped", extra=extra)
        return "lost"
