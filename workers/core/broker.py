"""The Dramatiq broker, built from settings: Redis by default, RabbitMQ for amqp:// URLs.

What a broker can do beyond Dramatiq's `Broker` interface is said once, here, by
`capabilities`: the rest of the code asks it rather than probing the broker's attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dramatiq import Broker, Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from config import Settings
from workers.core.dramatiq_internals import queue_size
from workers.core.handoff import PendingAcks
from workers.core.wakeup import WakeableRedisBroker

# Dramatiq's own retries only cover trouble before or around our tracking (the database
# unreachable when a message arrives); job failures are retried by workers/core/tracking.py.
INFRA_RETRIES = 5
REDIS_TIMEOUT_S = 10


def build_broker(settings: Settings) -> Broker:
    url = settings.effective_broker_url
    middleware = [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=INFRA_RETRIES, min_backoff=1000, max_backoff=60_000),
        CurrentMessage(),  # which message a job came in (workers/core/handoff.py)
    ]
    if url.startswith("amqp"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, max_priority=10, middleware=middleware)
    import redis

    # Timeouts, so a Redis that stops answering fails a call instead of hanging it (an API
    # request in its after-commit send, the sweep while it holds row locks).
    client = redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )
    return WakeableRedisBroker(
        client=client, namespace=settings.broker_namespace, middleware=middleware
    )


@dataclass(frozen=True)
class BrokerCapabilities:
    """What a broker can do beyond Dramatiq's `Broker` interface."""

    # Messages it holds for a queue, delayed and unacknowledged ones included.
    queue_depth: Callable[[str], int]
    # Whether it answers (it may raise instead of answering False).
    ping: Callable[[], bool]
    # Enqueues wake the queue's idle consumers at once (workers/core/wakeup.py).
    wakes_consumers: bool = False
    # Where a message's acknowledgement can wait until its job's success is written, so the
    # worker thread need not wait for the write (workers/core/handoff.py). None: a message is
    # acknowledged as its job returns, so the success must be written before that.
    pending_acks: PendingAcks | None = None
    # Stops its consumers taking messages, for a worker that begins to stop (None: they go
    # on fetching until the worker has stopped).
    drain: Callable[[], None] | None = None
    # Messages carry their job's priority (RabbitMQ's queues, declared with max_priority).
    priority: bool = False
    # Enqueues many (message, delay ms) pairs in one round trip, as `enqueue` would each;
    # for each, None once the broker holds it, else why not. None: one `enqueue` at a time.
    enqueue_many: (
        Callable[[Sequence[tuple[Message, int | None]]], list[Exception | None]] | None
    ) = None


def capabilities(broker: Broker) -> BrokerCapabilities:
    """What `broker` can do: the brokers `build_broker` makes, Dramatiq's plain Redis broker,
    and any other (a StubBroker, say) as able to do nothing more than Dramatiq's interface."""
    if isinstance(broker, WakeableRedisBroker):
        return BrokerCapabilities(
            queue_depth=lambda queue: queue_size(broker, queue),
            ping=lambda: _redis_ping(broker),
            wakes_consumers=True,
            pending_acks=broker.pending_acks,
            drain=broker.drain,
            enqueue_many=broker.enqueue_many,
        )
    if isinstance(broker, RedisBroker):
        return BrokerCapabilities(
            queue_depth=lambda queue: queue_size(broker, queue), ping=lambda: _redis_ping(broker)
        )
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    if isinstance(broker, RabbitmqBroker):
        return BrokerCapabilities(
            queue_depth=lambda queue: _rabbitmq_depth(broker, queue),
            ping=lambda: bool(broker.connection.is_open),  # opens the connection if needed
            priority=True,
        )
    return BrokerCapabilities(queue_depth=lambda _queue: 0, ping=lambda: False)


def queue_depth(broker: Broker, queue: str) -> int:
    """Messages the broker holds for `queue`, delayed and unacknowledged ones included."""
    return capabilities(broker).queue_depth(queue)


def _redis_ping(broker: RedisBroker) -> bool:
    broker.client.ping()
    return True


def _rabbitmq_depth(broker: Broker, queue: str) -> int:
    ready, delayed, _dead = broker.get_queue_message_counts(queue)  # type: ignore[attr-defined]
    return int(ready) + int(delayed)
