"""Acknowledging a message once its job's success is durable, without holding a worker thread.

A worker thread that has run a job hands the success to the state writer and goes on to the
next message without waiting for it to be written. Its message must still not be
acknowledged before the success is committed: a crash in between has to bring the message
back (the job, still running in the database, is then recovered by the sweep, as after any
crash). So when Dramatiq acknowledges the message, the consumer asks here first. If the
success is already written it acknowledges at once; otherwise the acknowledgement waits, and
is sent by the writer's follow-up thread once the success is in (or once writing it failed:
the job's fate is then in the database, where the sweep finds it).

Waiting on the writer took a worker thread a third of the time it spent per job, and woke it
once more than needed (workers/core/statewriter.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


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

    def __len__(self) -> int:
        return len(self._by_message)
