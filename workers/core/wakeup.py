"""Wake idle Redis consumers the moment a message arrives instead of letting them poll.

Dramatiq's Redis consumer finds an empty queue by polling it, backing off up to the worker
timeout: with its default of 1 s, a job submitted after a quiet spell waits ~0.3 s for a worker
to notice. Here every enqueue also publishes a nudge on `<namespace>:wake:<queue>`; each worker
process listens for them and cuts its consumers' idle wait short. Polling stays as the
fallback (WORKER_IDLE_POLL_MS), so a lost nudge costs latency, never a message.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from collections import defaultdict
from typing import Any

import redis
from dramatiq.common import dq_name
from dramatiq.errors import ConnectionClosed

from workers.core.batching import take_batch
from workers.core.dramatiq_internals import (
    RedisBrokerBase,
    RedisConsumer,
    error_of,
    eta_ms,
    raise_first,
    redis_message_id,
)
from workers.core.handoff import PendingAcks

log = logging.getLogger("backline.wakeup")
# While the consumer holds all it may prefetch it polls again after this pause, as Dramatiq
# does: acknowledgements free room without a nudge.
BUSY_PAUSE_S = 0.005
# The thread consuming a delay queue also moves due messages to their queue between two
# fetches: it wakes when the earliest one it holds falls due (a millisecond after, so it is).
DUE_MARGIN_S = 0.001
RECONNECT_PAUSE_S = 1.0
LISTEN_WAIT_S = 1.0
MAX_ACK_BATCH = 500
ACK_RETRY_S = 60.0
# While its worker stops, a consumer fetches nothing but still calls Dramatiq's script this
# often (at most; and at least three times per heartbeat timeout): each call refreshes the
# worker's heartbeat, which keeps the messages of the jobs it is finishing from going to
# another worker.
DRAINING_BEAT_S = 5.0
BEATS_PER_TIMEOUT = 3


class _Waker:
    """One listener per process: sets the event of each queue a nudge names."""

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self._client = client
        self._prefix = f"{namespace}:wake:"
        self._events: defaultdict[str, threading.Event] = defaultdict(threading.Event)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def channel(self, queue: str) -> str:
        return f"{self._prefix}{queue}"

    def nudge(self, queue: str) -> None:
        try:
            self._client.publish(self.channel(queue), b"1")
        except redis.RedisError:
            log.debug("wake-up nudge not sent", exc_info=True)

    def event(self, queue: str) -> threading.Event:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._listen, name="queue-wakeup", daemon=True
                )
                self._thread.start()
            return self._events[queue]

    def _listen(self) -> None:
        while True:
            try:
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(f"{self._prefix}*")
                while True:
                    # A bounded wait, shorter than the client's socket timeout: a quiet spell
                    # is no error (listen() would raise one after socket_timeout of silence).
                    message = pubsub.get_message(timeout=LISTEN_WAIT_S)
                    if message is not None and message.get("type") == "pmessage":
                        queue = message["channel"].decode()[len(self._prefix) :]
                        with self._lock:
                            event = self._events.get(queue)
                        if event is not None:
                            event.set()
            except redis.RedisError:
                log.warning("wake-up listener lost Redis; polling meanwhile", exc_info=True)
                time.sleep(RECONNECT_PAUSE_S)


class _Acker:
    """Sends the acknowledgements that waited for their jobs' successes, many per round trip.

    One at a time, on one thread, they would fall behind a busy process, and each message
    waiting for its ack keeps a prefetch place taken.
    """

    def __init__(self, broker: WakeableRedisBroker) -> None:
        self._broker = broker
        self._queue: queue.SimpleQueue[tuple[WakeableConsumer, Any] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def put(self, consumer: WakeableConsumer, message: Any) -> None:
        with self._lock:  # so no ack can slip in behind the stop
            if not self._stopped:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="acker", daemon=True)
                    self._thread.start()
                self._queue.put((consumer, message))
                return
        self._send([(consumer, message)])  # a success written after the broker closed

    def stop(self) -> None:
        """Send what is queued, then stop."""
        with self._lock:
            self._stopped = True
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join(timeout=10)

    def _run(self) -> None:
        while (batch := take_batch(self._queue, MAX_ACK_BATCH)) is not None:
            self._send(batch)

    def _send(self, batch: list[tuple[WakeableConsumer, Any]]) -> None:
        acks = [(c.queue_name, redis_message_id(m)) for c, m in batch]
        try:
            # Acknowledging twice is harmless: while Redis is away, try again, as Dramatiq
            # does with its own acks (for a while, and not once the worker is stopping).
            deadline = time.monotonic() + ACK_RETRY_S
            while True:
                try:
                    self._broker.ack_all(acks)
                    break
                except (redis.ConnectionError, redis.TimeoutError):
                    stopping = self._stopped or self._broker.draining.is_set()
                    if stopping or time.monotonic() > deadline:
                        raise
                    log.warning("Redis unreachable; acknowledging again shortly", exc_info=True)
                    time.sleep(RECONNECT_PAUSE_S)
        except Exception:
            # Still in this worker's unacknowledged set: redelivered once the worker is gone,
            # when the claim finds each job finished and does nothing.
            log.warning("could not acknowledge finished jobs' messages", exc_info=True)
        finally:
            for consumer, message in batch:
                consumer.free_place(message)


class WakeableConsumer(RedisConsumer):
    """Dramatiq's Redis consumer, waiting for a nudge rather than sleeping when idle."""

    def __init__(
        self, broker: WakeableRedisBroker, queue_name: str, prefetch: int, timeout: int
    ) -> None:
        # The parent's own backoff is kept to a millisecond; the waiting happens here.
        super().__init__(broker, queue_name, prefetch, 1)
        self.idle_s = timeout / 1000
        self.wake = broker.waker.event(queue_name)
        # When the delayed messages handed out so far fall due (epoch ms): Dramatiq's consumer
        # thread holds them and moves each to its queue on the first pass after its eta.
        self._etas: list[int] = []
        self._last_beat = 0.0
        self._beat_s = min(DRAINING_BEAT_S, broker.heartbeat_timeout / 1000 / BEATS_PER_TIMEOUT)

    def __next__(self) -> Any:
        if self.broker.draining.is_set() and not self.holds_fetched():
            return self._idle_while_draining()
        busy = self.prefetch_full()
        message = super().__next__()
        eta = eta_ms(message) if message is not None else None
        if eta is not None:
            heapq.heappush(self._etas, eta)
        if message is None and not self.holds_fetched():
            if busy:
                time.sleep(BUSY_PAUSE_S)
            else:
                self.wake.wait(self._idle_wait_s())
                self.wake.clear()
        return message

    def ack(self, message: Any) -> None:
        """Acknowledge, or leave it to the writer if the job's success is not yet written
        (workers/core/handoff.py)."""
        if not self.broker.pending_acks.defer(
            message, lambda: self.broker.acker.put(self, message)
        ):
            self._unless_stopping(super().ack, message)

    def nack(self, message: Any) -> None:
        """Dead-letter the message; if its job's success is not yet written, once it is."""
        nack = super().nack
        if not self.broker.pending_acks.defer(
            message, lambda: self._unless_stopping(nack, message)
        ):
            self._unless_stopping(nack, message)

    def _unless_stopping(self, send: Any, message: Any) -> None:
        """Acknowledge (or dead-letter) `message`; while the worker stops, give up when Redis
        is out of reach.

        Dramatiq retries an acknowledgement every few seconds until Redis answers, and its
        worker thread cannot stop meanwhile. A message left unacknowledged is delivered
        again once this worker is gone, and its claim then finds the job's true state.
        """
        try:
            send(message)
        except ConnectionClosed:
            if not self.broker.draining.is_set():
                raise
            log.warning(
                "Redis out of reach while the worker stops; message left to be delivered again",
                extra={"message_id": message.message_id},
            )

    def _idle_while_draining(self) -> None:
        """The worker is stopping: take no new message, which would only wait in its memory
        until it has stopped, while another worker could run it now."""
        now = time.monotonic()
        if now - self._last_beat >= self._beat_s:
            self._last_beat = now
            try:
                self.broker.beat(self.queue_name)
            except redis.ConnectionError as exc:
                raise ConnectionClosed(exc) from None
        self.wake.wait(self._idle_wait_s())  # held delayed messages still move when due
        self.wake.clear()

    def _idle_wait_s(self) -> float:
        """How long to wait for a nudge: 0 while a held delayed message is due."""
        now_ms = time.time() * 1000
        if self._etas and self._etas[0] <= now_ms:
            # Due, but maybe not moved yet (the consumer thread moves due messages only after
            # this returns): drop it from the watch, and return at once so it is moved.
            while self._etas and self._etas[0] <= now_ms:
                heapq.heappop(self._etas)
            return 0.0
        if not self._etas:
            return self.idle_s
        return min(self.idle_s, (self._etas[0] - now_ms) / 1000 + DUE_MARGIN_S)


class WakeableRedisBroker(RedisBrokerBase):
    """Dramatiq's Redis broker whose enqueues wake the consumers of their queue."""

    consumer_type = WakeableConsumer

    def __init__(self, *args: Any, namespace: str = "dramatiq", **kwargs: Any) -> None:
        super().__init__(*args, namespace=namespace, **kwargs)
        self.waker = _Waker(self.client, namespace)
        # Messages whose acknowledgement waits for their job's success to be written.
        self.pending_acks = PendingAcks()
        self.acker = _Acker(self)
        # Set when the worker begins to stop: its consumers fetch no more messages.
        self.draining = threading.Event()

    def store_messages(self, messages: list[tuple[str, str, bytes]]) -> list[Exception | None]:
        """Dramatiq's enqueue of each message (called by `enqueue` and `enqueue_many`, after
        the middleware), and a nudge per queue that wakes its idle consumers, in one round
        trip.

        The nudges go after the messages, so a consumer they wake finds its message there. A
        delayed message's queue is its delay queue: its consumers are the ones to wake (they
        move it to its queue when it falls due).
        """
        calls = [self.dispatch_args("enqueue", *message) for message in messages]
        queues = dict.fromkeys(queue for queue, _, _ in messages)
        nudges = [("publish", self.waker.channel(queue), b"1") for queue in queues]
        replies = self.run_dispatch(calls, then=nudges)
        for nudged in replies[len(calls) :]:
            if isinstance(nudged, Exception):
                # Only a wake-up lost (pub/sub refused, say): the consumers' poll finds it.
                log.debug("wake-up nudge not sent: %s", nudged)
        return [error_of(reply) for reply in replies[: len(calls)]]

    def drain(self) -> None:
        """The worker is stopping: from now on its consumers take no new messages."""
        self.draining.set()

    def reclaim(self, queue_name: str) -> None:
        """Give the messages that dead worker processes (silent for the heartbeat timeout:
        killed, say) had fetched from the queue and its delay queue back to them now, rather
        than when one of Dramatiq's calls happens to do the queue's maintenance."""
        names = (queue_name, dq_name(queue_name))
        self.run_dispatch([self.dispatch_args("requeue", n, maintenance=True) for n in names])

    def beat(self, queue_name: str) -> None:
        """Refresh this worker's heartbeat in Redis, and nothing else (a requeue of nothing)."""
        raise_first(self.run_dispatch([self.dispatch_args("requeue", queue_name)]))

    def ack_all(self, messages: list[tuple[str, str]]) -> None:
        """Acknowledge (queue, Redis message id) pairs in one round trip.

        Dramatiq's own `ack` takes one message per call. This sends the same call of its
        dispatch script for each, in one pipeline.
        """
        if messages:
            raise_first(self.run_dispatch([self.dispatch_args("ack", q, m) for q, m in messages]))

    def close(self) -> None:
        self.acker.stop()
        super().close()
