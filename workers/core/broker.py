"""The Dramatiq broker, built from settings: Redis by default, RabbitMQ for amqp:// URLs."""

from __future__ import annotations

from dramatiq import Broker
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
        CurrentMessage(),  # which message a job came in (workers/core/acks.py)
    ]
    if url.startswith("amqp"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, max_priority=10, middleware=middleware)
    import redis

    from workers.core.wakeup import WakeableRedisBroker

    # Timeouts, so a Redis that stops answering fails a call instead of hanging it (an API
    # request in its after-commit send, the sweep while it holds row locks).
    client = redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )
    return WakeableRedisBroker(
        client=client, namespace=settings.broker_namespace, middleware=middleware
    )


def queue_depth(broker: Broker, queue: str) -> int:
    """Messages the broker holds for `queue`, delayed and unacknowledged ones included."""
    if hasattr(broker, "do_qsize"):
        return int(broker.do_qsize(queue))
    if hasattr(broker, "get_queue_message_counts"):
        ready, delayed, _dead = broker.get_queue_message_counts(queue)
        return int(ready) + int(delayed)
    return 0
