"""Job change notifications over Redis pub/sub, so long-polling clients wake at once.

Whoever commits a change to a job publishes its id on `<namespace>:job:<id>` (workers after
each state change, the API after cancel and retry, the sweep after a recovery). An API process
that holds long-poll requests keeps one subscriber connection, subscribed to just the jobs its
requests wait on, and to a channel of its own on which a new watch wakes the listener when it
is waiting for messages (so a subscription is sent at once, not at the end of that wait). A
lost notification costs only latency: waiters still re-read the job every `FALLBACK_POLL_S`
seconds, and the database stays the truth.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("backline.changes")
CLIENT_NAME = "backline-changes"
FALLBACK_POLL_S = 1.0
RECONNECT_PAUSE_S = 0.5
# How long the listener waits for a message at a time: shorter than the client's socket
# timeout (a quiet spell is no error); new watches wake it early.
LISTEN_WAIT_S = 1.0
WAKE_TIMEOUT_S = 0.1
_CHANGED = "backline.changed_jobs"
MAX_PUBLISH_BATCH = 1000
# One command for a whole batch of notices: a pipeline of PUBLISH commands costs the client
# a command to pack and a reply to parse per job, which was a tenth of a worker's time.
# Channels are passed as arguments, not keys: they are not keys, and scripts may publish.
_PUBLISH_ALL = """
for i = 2, #ARGV do
    redis.call('PUBLISH', ARGV[1] .. ARGV[i], '1')
end
return #ARGV - 1
"""


class ChangeFeed:
    def __init__(self, redis_url: str, namespace: str) -> None:
        self._client = redis.Redis.from_url(
            redis_url,
            socket_timeout=5,
            socket_connect_timeout=2,
            client_name=f"{CLIENT_NAME}-{os.getpid()}",  # whose connections, in CLIENT LIST
        )
        # For the listener's wake-ups, sent by request threads: one try, briefly. A Redis
        # that does not answer must not hold a long-poll (the listener looks at its commands
        # after its wait anyway).
        self._waker = redis.Redis.from_url(
            redis_url,
            socket_timeout=WAKE_TIMEOUT_S,
            socket_connect_timeout=WAKE_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
            client_name=f"{CLIENT_NAME}-{os.getpid()}",
        )
        self._publish_all = self._client.register_script(_PUBLISH_ALL)
        self._prefix = f"{namespace}:job:"
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}
        self._commands: queue.SimpleQueue[tuple[str, str, threading.Event | None]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        # The listener's own channel: a new watch publishes on it to cut the listener's wait
        # short, when it is waiting (set just before it checks for commands and waits).
        self._control = f"{namespace}:job-feed:{uuid.uuid4()}"
        self._waiting = False
        self._publisher: threading.Thread | None = None
        self._outbox: queue.SimpleQueue[list[uuid.UUID | str]] = queue.SimpleQueue()

    # -- publishing ------------------------------------------------------------------------
    def publish_soon(self, job_ids: Iterable[uuid.UUID | str]) -> None:
        """Publish from a background thread, so a hot path does not wait on Redis."""
        ids = list(job_ids)
        if not ids:
            return
        with self._lock:
            if self._publisher is None or not self._publisher.is_alive():
                self._publisher = threading.Thread(
                    target=self._publish_loop, name="job-changes-publisher", daemon=True
                )
                self._publisher.start()
        self._outbox.put(ids)

    def _publish_loop(self) -> None:
        while True:
            ids = self._outbox.get()
            while len(ids) < MAX_PUBLISH_BATCH:  # what queued meanwhile goes out together
                try:
                    ids += self._outbox.get_nowait()
                except queue.Empty:
                    break
            try:
                self.publish(ids)
            except Exception:  # a bug must not end the thread: later notices still go out
                log.exception("could not publish job changes")

    def publish(self, job_ids: Iterable[uuid.UUID | str]) -> None:
        """Tell waiting clients these jobs changed (best effort: never raises)."""
        ids = list(dict.fromkeys(job_ids))  # a job claimed and finished in one go: once
        try:
            # In slices: a script holds Redis for its whole run.
            for first in range(0, len(ids), MAX_PUBLISH_BATCH):
                chunk = ids[first : first + MAX_PUBLISH_BATCH]
                self._publish_all(keys=[], args=[self._prefix, *map(str, chunk)])
        except redis.RedisError:
            log.warning("could not publish job changes", exc_info=True)

    def install(self, factory: sessionmaker[Session]) -> None:
        """Publish the jobs an ORM session changed once its transaction commits."""
        from models.core.jobs import Job  # noqa: PLC0415 - models is below workers; import late

        def collect(session: Session, _flush_context: Any, _instances: Any) -> None:
            # Changed jobs only: nobody can be waiting on a job being created (its id is not
            # out yet), and a submission should not pay for telling no one.
            changed = {o.id for o in session.dirty if isinstance(o, Job)}
            if changed:
                session.info.setdefault(_CHANGED, set()).update(changed)

        def committed(session: Session) -> None:
            if session.get_nested_transaction() is None:
                # In the background: the request that committed need not wait on Redis.
                self.publish_soon(session.info.pop(_CHANGED, ()))

        def rolled_back(session: Session, previous: Any) -> None:
            if previous.parent is None:
                session.info.pop(_CHANGED, None)

        event.listen(factory, "before_flush", collect)
        event.listen(factory, "after_commit", committed)
        event.listen(factory, "after_soft_rollback", rolled_back)

    # -- waiting ---------------------------------------------------------------------------
    @contextmanager
    def watch(
        self, job_id: uuid.UUID | str, ready_timeout_s: float = 1.0
    ) -> Iterator[threading.Event]:
        """An event set when `job_id` changes; subscribed before the block starts.

        Read the job inside the block, after subscribing, so no change can slip between the
        read and the wait.
        """
        channel = f"{self._prefix}{job_id}"
        changed = threading.Event()
        ready = threading.Event()
        self._ensure_thread()
        with self._lock:
            first = channel not in self._waiters
            self._waiters.setdefault(channel, set()).add(changed)
        if first:
            self._commands.put(("subscribe", channel, ready))
            if self._waiting:
                self._wake_listener()
            ready.wait(ready_timeout_s)
        try:
            yield changed
        finally:
            with self._lock:
                waiters = self._waiters.get(channel, set())
                waiters.discard(changed)
                last = not waiters
                if last:
                    self._waiters.pop(channel, None)
            if last:
                self._commands.put(("unsubscribe", channel, None))

    def _wake_listener(self) -> None:
        try:
            self._waker.publish(self._control, b"1")
        except redis.RedisError:  # it still looks at its commands after its wait
            log.debug("could not wake the change feed's listener", exc_info=True)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._listen, name="job-changes", daemon=True
                )
                self._thread.start()

    def _listen(self) -> None:
        pubsub: Any = None
        pending: dict[str, threading.Event] = {}
        while True:
            try:
                if pubsub is None:
                    pubsub = self._subscriber()
                self._apply_commands(pubsub, pending)
                # Waiting from here: a watch that queues a command now publishes a wake-up
                # (one queued before this line is applied by the next round at once).
                self._waiting = True
                timeout = 0.0 if not self._commands.empty() else LISTEN_WAIT_S
                message = pubsub.get_message(timeout=timeout)
                self._waiting = False
                if message is None:
                    continue
                channel = message["channel"].decode()
                if message["type"] == "subscribe" and channel in pending:
                    pending.pop(channel).set()
                elif message["type"] == "message" and channel != self._control:
                    with self._lock:
                        for waiter in self._waiters.get(channel, ()):
                            waiter.set()
            except redis.RedisError:
                self._waiting = False
                log.warning("job change feed lost its connection; reconnecting", exc_info=True)
                for ready in pending.values():
                    ready.set()
                pending.clear()
                if pubsub is not None:
                    with contextlib.suppress(redis.RedisError):
                        pubsub.close()
                    pubsub = None
                time.sleep(RECONNECT_PAUSE_S)

    def _apply_commands(self, pubsub: Any, pending: dict[str, threading.Event]) -> None:
        while True:
            try:
                command, channel, ready = self._commands.get_nowait()
            except queue.Empty:
                return
            self._apply(pubsub, pending, command, channel, ready)

    @staticmethod
    def _apply(
        pubsub: Any,
        pending: dict[str, threading.Event],
        command: str,
        channel: str,
        ready: threading.Event | None,
    ) -> None:
        if command == "subscribe":
            pubsub.subscribe(channel)
            if ready is not None:
                pending[channel] = ready
        else:
            pubsub.unsubscribe(channel)

    def _subscriber(self) -> Any:
        """A subscriber connection, subscribed to the listener's own channel and to every job
        someone waits on (again, after a reconnection)."""
        pubsub = self._client.pubsub(ignore_subscribe_messages=False)
        with self._lock:
            channels = list(self._waiters)
        try:
            pubsub.subscribe(self._control, *channels)
        except BaseException:
            pubsub.close()
            raise
        return pubsub
