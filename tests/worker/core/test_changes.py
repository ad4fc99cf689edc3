"""The change feed: a waiter wakes when its job's change is published, and only then."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

import redis

from config import Settings
from tests.tcp import TcpServer
from workers.core.changes import CLIENT_NAME, RECONNECT_PAUSE_S, WAKE_TIMEOUT_S, ChangeFeed


def test_a_watcher_wakes_on_its_jobs_change_and_not_on_others(settings: Settings) -> None:
    feed = ChangeFeed(settings.redis_url, settings.broker_namespace)
    mine, other = uuid.uuid4(), uuid.uuid4()

    with feed.watch(mine) as changed:
        feed.publish([other])
        assert not changed.wait(0.3)
        threading.Timer(0.1, feed.publish, args=([mine],)).start()
        started = time.monotonic()
        assert changed.wait(2)
        assert time.monotonic() - started < 0.5


def test_two_watchers_of_one_job_both_wake_and_leaving_unsubscribes(settings: Settings) -> None:
    feed = ChangeFeed(settings.redis_url, settings.broker_namespace)
    job = uuid.uuid4()

    with feed.watch(job) as first, feed.watch(job) as second:
        feed.publish([job])
        assert first.wait(2) and second.wait(2)
    with feed.watch(job) as again:  # subscribes afresh after the last watcher left
        feed.publish([job])
        assert again.wait(2)


def test_publishing_to_an_unreachable_redis_does_not_raise() -> None:
    ChangeFeed("redis://127.0.0.1:1/0", "nowhere").publish([uuid.uuid4()])


def test_one_publish_wakes_every_job_in_it_even_after_redis_forgot_its_scripts(
    settings: Settings,
) -> None:
    feed = ChangeFeed(settings.redis_url, settings.broker_namespace)
    first, second, bystander = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    with feed.watch(first) as a, feed.watch(second) as b, feed.watch(bystander) as c:
        feed.publish([first, second])
        assert a.wait(2) and b.wait(2)
        assert not c.is_set()
    # A restarted Redis has no scripts loaded: the next publish must load its own again.
    redis.Redis.from_url(settings.redis_url).script_flush()
    with feed.watch(second) as again:
        feed.publish([second])
        assert again.wait(2)


def test_a_new_watch_is_subscribed_at_once_while_the_listener_waits_on_others(
    settings: Settings,
) -> None:
    feed = ChangeFeed(settings.redis_url, settings.broker_namespace)
    with feed.watch(uuid.uuid4()):  # the listener now waits for messages, up to a second
        for _ in range(5):
            time.sleep(0.05)
            job = uuid.uuid4()
            started = time.monotonic()
            with feed.watch(job) as changed:
                took = time.monotonic() - started
                feed.publish([job])
                assert changed.wait(2)
            # Woken to subscribe, not at the end of its wait (LISTEN_WAIT_S).
            assert took < 0.2


def test_the_listener_reconnects_and_resubscribes_after_losing_redis(settings: Settings) -> None:
    feed = ChangeFeed(settings.redis_url, settings.broker_namespace)
    job = uuid.uuid4()
    admin = redis.Redis.from_url(settings.redis_url)
    ours = f"{CLIENT_NAME}-{os.getpid()}"

    with feed.watch(job) as changed:
        listeners = [c for c in admin.client_list(_type="pubsub") if c["name"] == ours]
        assert listeners
        for client in listeners:
            admin.client_kill_filter(_id=client["id"])
        time.sleep(RECONNECT_PAUSE_S + 0.5)  # it notices, pauses, and subscribes again
        feed.publish([job])
        assert changed.wait(2)
        # and a new watch still subscribes at once
        other = uuid.uuid4()
        started = time.monotonic()
        with feed.watch(other) as also:
            assert time.monotonic() - started < 0.2
            feed.publish([other])
            assert also.wait(2)


class _StallingProxy(TcpServer):
    """A TCP proxy in front of Redis that, once `stall` is set, forwards nothing more either
    way: a Redis that stops answering, with its connections still open."""

    def __init__(self, redis_url: str) -> None:
        target = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs
        self._target = (target.get("host", "127.0.0.1"), int(target.get("port", 6379)))
        self.stall = threading.Event()
        super().__init__()
        self.url = f"redis://127.0.0.1:{self.port}/{int(target.get('db', 0))}"

    def handle(self, conn: socket.socket) -> None:
        upstream = socket.create_connection(self._target)
        for source, sink in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while data := source.recv(65536):
            if self.stall.is_set():
                return  # swallowed, and nothing more read: the peer waits for its answer
            sink.sendall(data)


def test_a_redis_that_stops_answering_holds_a_new_watch_no_longer_than_a_second(
    settings: Settings,
) -> None:
    proxy = _StallingProxy(settings.redis_url)
    feed = ChangeFeed(proxy.url, settings.broker_namespace)
    try:
        with feed.watch(uuid.uuid4()):  # the listener is subscribed, and waits for messages
            deadline = time.monotonic() + 5
            while not feed._waiting:  # so the next watch has it woken
                assert time.monotonic() < deadline
                time.sleep(0.01)
            proxy.stall.set()
            started = time.monotonic()
            with feed.watch(uuid.uuid4()):
                took = time.monotonic() - started
                # Counted now: leaving the watch wakes the listener again, on a new connection.
                connections = proxy.connections
    finally:
        proxy.close()

    # The new watch woke the listener through a connection of its own (a second one), which
    # gave up after WAKE_TIMEOUT_S; then it waited its second for the subscription, and went
    # on without it (it still re-reads the job every second). With the feed's main client's
    # timeouts, the wake-up alone would have held it 5 s. (The listener may open a third
    # connection by then, re-subscribing when its own stops answering: not counted exactly.)
    assert connections >= 2
    assert took < 1 + WAKE_TIMEOUT_S + 0.5
