"""Change notifications over Redis pub/sub, published after commit, so waiting clients wake
at once: the platform's publish/subscribe mechanism (web/core/streams.py builds event streams
on it, and domains may publish on channels of their own).

A notification says only "look again": the database stays the truth, and a channel's
subscriber re-reads what it follows. Whoever commits a change to a job publishes on
`<namespace>:job:<id>` and on its organisation's `<namespace>:org:<id>:jobs` (workers after
each state change, the API after a submission, a cancel or a retry, the sweep after a
recovery). An API process that holds waiting requests keeps one subscriber connection,
subscribed to just the channels its requests follow, and to a channel of its own on which a
new watch wakes the listener when it is waiting for messages (so a subscription is sent at
once, not at the end of that wait). A lost notification costs only latency: when the
subscriber connection is lost and made again every watch is woken, and waiters re-read what
they follow about every `FALLBACK_POLL_S` seconds anyway.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import random
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
# Notifications are lost only with a subscriber connection (every watch is then woken) or a
# publish that failed (logged): the re-read about this often is for those. Waiters spread
# their re-reads (`fallback_poll_s`): a thousand started together must not read together.
FALLBACK_POLL_S = 15.0


def fallback_poll_s() -> float:
    """FALLBACK_POLL_S, give or take a fifth, chosen afresh at each call."""
    return FALLBACK_POLL_S * random.uniform(0.8, 1.2)  # noqa: S311 - spreading load, no secret


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


def job_channel(job_id: uuid.UUID | str) -> str:
    """The channel a job's changes are announced on."""
    return f"job:{job_id}"


def org_jobs_channel(org_id: uuid.UUID | str) -> str:
    """The channel every change to an organisation's jobs is announced on."""
    return f"org:{org_id}:jobs"


def job_change_channels(
    job_ids: Iterable[uuid.UUID | str], org_ids: Iterable[uuid.UUID | str | None] = ()
) -> list[str]:
    """The channels of these jobs and of their organisations (each once)."""
    channels = [job_channel(j) for j in dict.fromkeys(job_ids)]
    return channels + [org_jobs_channel(o) for o in dict.fromkeys(org_ids) if o is not None]


def announce_after_commit(session: Session, channels: Iterable[str]) -> None:
    """Have these channels published once `session`'s transaction commits (by the ChangeFeed
    installed on its factory; nothing is published if it rolls back)."""
    session.info.setdefault(_CHANGED, set()).update(channels)


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
        self._prefix = f"{namespace}:"
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
        self._outbox: queue.SimpleQueue[list[str]] = queue.SimpleQueue()

    # -- publishing ------------------------------------------------------------------------
    def publish_soon(
        self,
        job_ids: Iterable[uuid.UUID | str],
        org_ids: Iterable[uuid.UUID | str | None] = (),
    ) -> None:
        """Publish from a background thread, so a hot path does not wait on Redis."""
        self.publish_channels_soon(job_change_channels(job_ids, org_ids))

    def publish_channels_soon(self, channels: list[str]) -> None:
        """`publish_channels` from a background thread."""
        if not channels:
            return
        with self._lock:
            if self._publisher is None or not self._publisher.is_alive():
                self._publisher = threading.Thread(
                    target=self._publish_loop, name="job-changes-publisher", daemon=True
                )
                self._publisher.start()
        self._outbox.put(channels)

    def _publish_loop(self) -> None:
        while True:
            channels = self._outbox.get()
            while len(channels) < MAX_PUBLISH_BATCH:  # what queued meanwhile goes out together
                try:
                    channels += self._outbox.get_nowait()
                except queue.Empty:
                    break
            try:
                self.publish_channels(channels)
            except Exception:  # a bug must not end the thread: later notices still go out
                log.exception("could not publish job changes")

    def publish(
        self,
        job_ids: Iterable[uuid.UUID | str],
        org_ids: Iterable[uuid.UUID | str | None] = (),
    ) -> None:
        """Tell waiting clients these jobs (and their organisations' jobs) changed."""
        self.publish_channels(job_change_channels(job_ids, org_ids))

    def publish_channels(self, channels: Iterable[str]) -> None:
        """Tell the subscribers of these channels to look again (best effort: never raises).

        Call it after the commit that made the change: a subscriber woken before then would
        read the old state and wait again.
        """
        names = list(dict.fromkeys(channels))  # a job claimed and finished in one go: once
        try:
            # In slices: a script holds Redis for its whole run.
            for first in range(0, len(names), MAX_PUBLISH_BATCH):
                chunk = names[first : first + MAX_PUBLISH_BATCH]
                self._publish_all(keys=[], args=[self._prefix, *chunk])
        except redis.RedisError:
            log.warning("could not publish changes", exc_info=True)

    def install(self, factory: sessionmaker[Session]) -> None:
        """Publish the jobs an ORM session changed once its transaction commits."""
        from models.core.jobs import Job  # noqa: PLC0415 - models is below workers; import late

        def collect(session: Session, _flush_context: Any, _instances: Any) -> None:
            # Changed jobs; new ones are announced by enqueue (announce_after_commit), which
            # stores them without the ORM.
            jobs = [o for o in session.dirty if isinstance(o, Job)]
            if jobs:
                pending = session.info.setdefault(_CHANGED, set())
                pending.update(job_channel(o.id) for o in jobs)
                pending.update(org_jobs_channel(o.org_id) for o in jobs if o.org_id)

        def committed(session: Session) -> None:
            if session.get_nested_transaction() is None:
                # In the background: the request that committed need not wait on Redis.
                self.publish_channels_soon(list(session.info.pop(_CHANGED, ())))

        def rolled_back(session: Session, previous: Any) -> None:
            if previous.parent is None:
                session.info.pop(_CHANGED, None)

        event.listen(factory, "before_flush", collect)
        event.listen(factory, "after_commit", committed)
        event.listen(factory, "after_soft_rollback", rolled_back)

    # -- waiting ---------------------------------------------------------------------------
    def watch(
        self, job_id: uuid.UUID | str, ready_timeout_s: float = 1.0
    ) -> contextlib.AbstractContextManager[threading.Event]:
        """An event set when `job_id` changes; subscribed before the block starts.

        Read the job inside the block, after subscribing, so no change can slip between the
        read and the wait.
        """
        return self.watch_channel(job_channel(job_id), ready_timeout_s)

    @contextmanager
    def watch_channel(self, name: str, ready_timeout_s: float = 1.0) -> Iterator[threading.Event]:
        """An event set when something is published on channel `name`, or when the feed's
        connection was lost and made again (a notification may have been missed); subscribed
        before the block starts. Read what the channel announces inside the block."""
        channel = f"{self._prefix}{name}"
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
        lost = False
        while True:
            try:
                if pubsub is None:
                    pubsub = self._subscriber()
                    if lost:  # what was published meanwhile went to no one: look again
                        self._wake_all()
                        lost = False
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
                lost = True
                if pubsub is not None:
                    with contextlib.suppress(redis.RedisError):
                        pubsub.close()
                    pubsub = None
                time.sleep(RECONNECT_PAUSE_S)

    def _wake_all(self) -> None:
        with self._lock:
            for waiters in self._waiters.values():
                for waiter in waiters:
                    waiter.set()

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
