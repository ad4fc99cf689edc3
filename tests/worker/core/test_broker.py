"""What each broker can do is stated by `capabilities`, not found by probing the broker."""

from __future__ import annotations

import uuid

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from config import Settings
from workers.core.broker import build_broker, capabilities, queue_depth
from workers.core.enqueue import Dispatch, build_message


def test_the_redis_broker_wakes_consumers_defers_acks_and_drains(settings: Settings) -> None:
    broker = build_broker(settings)
    try:
        broker.declare_queue("caps-test")
        broker.enqueue(dramatiq.Message("caps-test", "nobody", (), {}, {}))
        broker.enqueue(dramatiq.Message("caps-test", "nobody", (), {}, {}), delay=60_000)
        can = capabilities(broker)

        assert can.ping() is True
        assert can.queue_depth("caps-test") == queue_depth(broker, "caps-test") == 2
        assert can.wakes_consumers and not can.priority
        assert can.pending_acks is capabilities(broker).pending_acks is not None
        assert can.drain is not None
        assert can.reclaim is not None and can.loss_marker is not None
        can.drain()
        assert broker.draining.is_set()
    finally:
        broker.flush_all()
        broker.close()


def test_dramatiqs_plain_redis_broker_only_counts_and_answers(redis_url: str) -> None:
    broker = RedisBroker(client=redis.Redis.from_url(redis_url), namespace="caps-plain")
    can = capabilities(broker)

    assert can.ping() is True
    assert can.queue_depth("nothing-here") == 0
    assert (can.wakes_consumers, can.pending_acks, can.drain, can.priority, can.reclaim) == (
        False,
        None,
        None,
        False,
        None,
    )
    assert can.loss_marker is not None  # it keeps its messages in Redis all the same


def test_a_broker_of_another_kind_can_do_nothing_beyond_dramatiqs_interface() -> None:
    can = capabilities(StubBroker())

    assert (can.ping(), can.queue_depth("any")) == (False, 0)
    assert (can.wakes_consumers, can.pending_acks, can.drain, can.priority) == (
        False,
        None,
        None,
        False,
    )
    assert (can.reclaim, can.loss_marker) == (None, None)


def test_a_worker_counts_as_dead_once_its_jobs_heartbeats_would(settings: Settings) -> None:
    broker = build_broker(settings)
    try:
        assert broker.heartbeat_timeout == settings.heartbeat_stale_s * 1000  # type: ignore[attr-defined]
    finally:
        broker.close()


def test_a_message_carries_its_priority_only_to_a_broker_that_takes_one() -> None:
    dispatch = Dispatch(uuid.uuid4(), "system.noop", "system", "m-1", priority=5)

    assert build_message(dispatch, priority=True).options == {"broker_priority": 5}
    assert build_message(dispatch, priority=False).options == {}
