"""The wake-up listener: an enqueue nudges idle consumers, even after a long quiet spell."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
import redis

from config import Settings
from workers.core.broker import build_broker
from workers.core.wakeup import _Waker


@pytest.fixture()
def broker_queue(settings: Settings) -> Iterator[tuple[Any, str]]:
    """The platform's broker and a queue of its own, emptied and closed after the test."""
    broker = build_broker(settings)
    queue = f"wake-test-{uuid.uuid4().hex[:8]}"
    broker.declare_queue(queue)
    yield broker, queue
    broker.flush(queue)
    broker.close()


def test_a_nudge_after_a_quiet_spell_longer_than_the_socket_timeout_still_wakes(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The broker's client times reads out (so a hung Redis cannot hang a request); a quiet
    # listener must not take that silence for a lost connection.
    client = redis.Redis.from_url(redis_url, socket_timeout=0.3, socket_connect_timeout=1)
    waker = _Waker(client, f"wake-test-{uuid.uuid4().hex[:8]}")
    event = waker.event("default")
    time.sleep(1.5)  # five socket timeouts of silence
    caplog.set_level(logging.WARNING, logger="backline.wakeup")

    deadline = time.monotonic() + 5
    while not event.is_set() and time.monotonic() < deadline:
        waker.nudge("default")
        event.wait(0.1)

    assert event.is_set()
    assert not [r for r in caplog.records if r.name == "backline.wakeup"]


def test_a_delayed_message_runs_when_due_not_at_the_next_idle_poll(settings: Settings) -> None:
    # Idle consumers poll only every few seconds here: the consumer holding the delayed
    # message must wake for its due time by itself.
    broker = build_broker(settings)
    ran: list[float] = []

    @dramatiq.actor(broker=broker, queue_name="due-test", actor_name="due_test_stamp")
    def stamp() -> None:
        ran.append(time.time())

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=3000)
    worker.start()
    try:
        time.sleep(0.5)  # every consumer is idle
        sent = time.time()
        stamp.send_with_options(delay=400)
        deadline = time.monotonic() + 8
        while not ran and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        worker.stop()
        broker.close()

    assert ran, "the delayed message never ran"
    assert 0.4 <= ran[0] - sent < 1.5


def test_an_idle_consumer_holding_a_due_message_waits_for_nothing(settings: Settings) -> None:
    # The consumer thread moves due messages only between two fetches: a due one seen while
    # going idle (say, after a nudge another process won) must be moved at once, not after
    # a whole idle poll.
    broker = build_broker(settings)
    consumer = broker.consume("due-test.DQ", prefetch=1, timeout=3000)
    now_ms = int(time.time() * 1000)
    try:
        assert consumer._idle_wait_s() == 3.0  # nothing held: the idle poll
        consumer._etas[:] = [now_ms + 400]
        assert 0.3 < consumer._idle_wait_s() <= 0.402  # until the one held falls due
        consumer._etas[:] = [now_ms - 1, now_ms + 400]
        assert consumer._idle_wait_s() == 0  # one is due: go round and move it now
        assert consumer._etas == [now_ms + 400]
    finally:
        consumer.close()
        broker.close()


def test_an_enqueue_stores_the_message_and_nudges_its_queue_also_after_a_script_flush(
    broker_queue: tuple[Any, str],
) -> None:
    # The broker sends Dramatiq's own enqueue script and the nudge in one pipeline.
    broker, queue = broker_queue
    listener = broker.client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(broker.waker.channel(queue))
    assert listener.get_message(timeout=1) is None  # the subscription's confirmation
    consumer = broker.consume(queue, prefetch=2, timeout=100)
    try:
        sent = [broker.enqueue(dramatiq.Message(queue, "nobody", (0,), {}, {}))]
        nudges = [listener.get_message(timeout=1)]
        broker.client.script_flush()  # as after a Redis restart: the script is loaded again
        sent.append(broker.enqueue(dramatiq.Message(queue, "nobody", (1,), {}, {})))
        nudges.append(listener.get_message(timeout=1))

        got: list[dramatiq.Message] = []
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            message = next(consumer)
            if message is not None:
                got.append(message)
        assert [m.message_id for m in got] == [m.message_id for m in sent]
        assert [m.args for m in got] == [(0,), (1,)]
        assert [n and n["data"] for n in nudges] == [b"1", b"1"]
        for message in got:
            consumer.ack(message)
    finally:
        consumer.close()
        listener.close()


def test_many_messages_go_in_one_pipeline_with_one_nudge_per_queue_also_after_a_script_flush(
    broker_queue: tuple[Any, str],
) -> None:
    broker, queue = broker_queue
    listener = broker.client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(broker.waker.channel(queue), broker.waker.channel(f"{queue}.DQ"))
    consumer = broker.consume(queue, prefetch=4, timeout=100)
    messages = [dramatiq.Message(queue, "nobody", (n,), {}, {}) for n in range(4)]
    try:
        first = broker.enqueue_many(
            [(messages[0], None), (messages[1], None), (messages[2], 60_000)]
        )
        nudges = []
        deadline = time.monotonic() + 2
        while len(nudges) < 3 and time.monotonic() < deadline:  # a third would be one too many
            nudge = listener.get_message(timeout=0.2)  # None for a subscription's confirmation
            if nudge is not None:
                nudges.append(nudge["channel"].decode())
        broker.client.script_flush()  # as after a Redis restart: the script is loaded again
        second = broker.enqueue_many([(messages[3], None)])

        assert first == [None, None, None] and second == [None]
        assert sorted(nudges) == [broker.waker.channel(queue), broker.waker.channel(f"{queue}.DQ")]
        got: list[dramatiq.Message] = []
        deadline = time.monotonic() + 5
        while len(got) < 3 and time.monotonic() < deadline:
            message = next(consumer)
            if message is not None:
                got.append(message)
        assert sorted(m.args for m in got) == [(0,), (1,), (3,)]  # the third waits its minute
        for message in got:
            consumer.ack(message)
    finally:
        consumer.close()
        listener.close()


def test_a_draining_consumer_takes_no_new_message_but_keeps_its_worker_alive(
    broker_queue: tuple[Any, str],
) -> None:
    # While a worker stops, what its consumers fetch waits in its memory until it has
    # stopped; left in Redis, another worker runs it now. Its heartbeat must go on, or the
    # messages of the jobs it is finishing would be handed out again.
    broker, queue = broker_queue
    consumer = broker.consume(queue, prefetch=4, timeout=50)
    beats = f"{broker.namespace}:__heartbeats__"
    try:
        broker.drain()
        broker.enqueue(dramatiq.Message(queue, "nobody", (), {}, {}))
        enqueued_at = broker.client.zscore(beats, broker.broker_id)
        time.sleep(0.01)

        assert [next(consumer) for _ in range(3)] == [None, None, None]
        assert broker.client.llen(f"{broker.namespace}:{queue}") == 1  # still there to take
        assert broker.client.zscore(beats, broker.broker_id) > enqueued_at
    finally:
        consumer.close()
