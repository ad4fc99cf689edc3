"""The Dramatiq broker, built from settings: Redis by default, RabbitMQ for amqp:// URLs.

What a broker can do beyond Dramatiq's `Broker` interface is said once, here, by
`capabilities`: the rest of the code asks it rather than probing the broker's attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

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
from workers.core.dramatiq_internals import held_messages, queue_size
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
        client=client,
        namespace=settings.broker_namespace,
        middleware=middleware,
        heartbeat_timeout=dead_worker_timeout_ms(settings),
    )


def dead_worker_timeout_ms(settings: Settings) -> int:
    """How long a worker process may leave Dramatiq's heartbeat unrefreshed before the
    messages it fetched and did not acknowledge go to other workers: HEARTBEAT_STALE_S, as
    for the jobs it runs (Dramatiq's own default is 60 s).

    Its consumers refresh it at every fetch, at least every WORKER_IDLE_POLL_MS (its delay
    queues' consumers keep polling while every thread is busy), and a stopping worker's
    every few seconds (workers/core/wakeup.py).
    """
    return int(max(settings.heartbeat_stale_s * 1000, 4 * settings.worker_idle_poll_ms))


class LossMarker:
    """A key the broker's Redis keeps beside the messages, and loses with them.

    A flush, or a restart without the data, takes the marker away with every message: its
    absence tells the recovery sweep that the broker lost what it held, at once, rather than
    job by job once each has waited long enough to look lost (workers/core/recovery.py).
    """

    def __init__(self, broker: RedisBroker) -> None:
        self.broker = broker
        self.key = f"{broker.namespace}:recovery:marker"

    def place(self) -> bool:
        """Put the marker in place; True if it was missing (lost since, or never placed).

        Atomic: of several schedulers asking at once, one hears True.
        """
        placed = self.broker.client.set(self.key, datetime.now(UTC).isoformat(), nx=True)
        return bool(placed)

    def remove(self) -> None:
        """Take the marker away, so the next look finds the broker's messages lost."""
        self.broker.client.delete(self.key)

    def held_jobs(self, queues: Iterable[str]) -> set[str]:
        """The ids of the jobs on `queues` whose message the broker holds (waiting, delayed,
        or fetched by a worker and not acknowledged yet)."""
        return {
            str(message.args[0])
            for queue in queues
            for message in held_messages(self.broker, queue)
            if message.args
        }


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
    # Gives the messages that dead worker processes fetched from a queue and did not
    # acknowledge back to it (None: the broker does so itself, or never loses them that way).
    reclaim: Callable[[str], None] | None = None
    # Tells when the broker lost its messages, and which jobs it holds messages for (None:
    # it cannot tell, and lost messages are found by their jobs' waiting too long).
    loss_marker: LossMarker | None = None


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
            reclaim=broker.reclaim,
            loss_marker=LossMarker(broker),
        )
    if isinstance(broker, RedisBroker):
        return BrokerCapabilities(
            queue_depth=lambda queue: queue_size(broker, queue),
            ping=lambda: _redis_ping(broker),
            loss_marker=LossMarker(broker),
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
