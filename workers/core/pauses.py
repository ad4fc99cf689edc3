"""Paused queues, honoured by every worker without losing a message.

A queue is paused by a row in queue_pauses (models/core/ops.py), written in the same transaction
as the operator's audit entry. Each worker process re-reads the set of paused queues every
second on a thread of its own, so no message waits on that read (after a quiet spell, the
first message used to pay for it). A message of a paused queue is not run: it goes back to
the broker with a delay (growing from 1 s to 10 s while the pause lasts) and this delivery
is skipped, so the job stays queued in PostgreSQL and its message stays in the broker. This
works the same on Redis and RabbitMQ. Jobs already running when the pause lands finish
normally.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from dramatiq import Broker, Message
from dramatiq.middleware import Middleware, SkipMessage
from sqlalchemy.orm import Session, sessionmaker

from models.core import ops

log = logging.getLogger("backline.pauses")
REFRESH_S = 1.0
MIN_DEFER_MS = 1000
MAX_DEFER_MS = 10_000
BOUNCES = "backline_paused_bounces"


class PausedQueues:
    """The set of paused queues, at most `refresh_s` old (a little more while a read runs)."""

    def __init__(self, sessions: sessionmaker[Session], refresh_s: float = REFRESH_S) -> None:
        self._sessions = sessions
        self._refresh_s = refresh_s
        self._paused: frozenset[str] = frozenset()
        self._read_at = float("-inf")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Keep the answer fresh from a thread of its own, every `refresh_s`."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._keep_fresh, name="paused", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def is_paused(self, queue: str) -> bool:
        # Read here only if the thread is not keeping up (or not started): it re-reads every
        # refresh_s, so a fresh answer is the rule.
        started = self._thread is not None
        if time.monotonic() - self._read_at >= self._refresh_s * (2 if started else 1):
            with self._lock:
                if time.monotonic() - self._read_at >= self._refresh_s:
                    self._refresh()
        return queue in self._paused

    def _keep_fresh(self) -> None:
        while True:
            with self._lock:
                self._refresh()
            if self._stop.wait(self._refresh_s):
                return

    def _refresh(self) -> None:
        try:
            with self._sessions() as session:
                self._paused = frozenset(ops.paused_queues(session=session))
        except Exception:
            # Keep the last answer: a database blip must neither pause nor resume anything.
            log.warning("could not read the paused queues; keeping the last answer", exc_info=True)
        self._read_at = time.monotonic()


def defer_ms(bounces: int) -> int:
    """How long a message of a paused queue waits before it is looked at again."""
    return int(min(MAX_DEFER_MS, MIN_DEFER_MS * 2 ** min(bounces, 10)))


class PauseMiddleware(Middleware):
    """Sends messages of paused queues back to the broker, delayed, instead of running them."""

    def __init__(self, paused: PausedQueues) -> None:
        self.paused = paused

    def after_worker_boot(self, broker: Broker, worker: object) -> None:
        self.paused.start()

    def after_worker_shutdown(self, broker: Broker, worker: object) -> None:
        self.paused.stop()

    def before_process_message(self, broker: Broker, message: Any) -> None:
        queue = _canonical(message.queue_name)
        if not self.paused.is_paused(queue):
            return
        bounces = int(message.options.get(BOUNCES, 0))
        # Enqueued before this delivery is acknowledged (on skip): at any moment the broker
        # holds at least one of the two, so a crash in between duplicates, never loses.
        again: Message = message.copy(queue_name=queue, options={BOUNCES: bounces + 1})
        broker.enqueue(again, delay=defer_ms(bounces))
        log.debug("queue paused; message deferred", extra={"queue": queue})
        raise SkipMessage(f"queue {queue} is paused")


def _canonical(queue_name: str) -> str:
    for suffix in (".DQ", ".XQ"):
        if queue_name.endswith(suffix):
            return queue_name[: -len(suffix)]
    return queue_name
