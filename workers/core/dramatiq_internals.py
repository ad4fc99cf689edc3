"""Every private part of Dramatiq's Redis broker that Backline relies on, in one place.

workers/core/wakeup.py wakes idle consumers, sends many acknowledgements (and
workers/core/enqueue.py many messages) per round trip and stops a stopping worker's fetches
by reaching past Dramatiq's public API. Those reaches are all here, under names of our own:
nothing else touches a private Dramatiq name. pyproject.toml pins Dramatiq to the versions
tested (`TESTED_VERSIONS`), and tests/worker/core/test_dramatiq_internals.py fails, naming
what changed, as soon as the installed Dramatiq no longer has what this relies on:

- `dramatiq.brokers.redis._RedisConsumer`, the consumer extended here: its `message_cache`
  (messages fetched, not yet handed out), `queued_message_ids` (handed out, not yet
  acknowledged: its `ack` and `nack` discard from it), `outstanding_message_count` (the two
  together) and `prefetch`;
- `RedisBroker.consumer_class`, the class `consume` builds (from broker, queue name,
  prefetch and timeout), and `RedisBroker.do_enqueue(queue_name, redis_message_id, encoded)`,
  what `enqueue` calls once the middleware has run (`do_<command>` calls the dispatch
  script's command);
- `RedisBroker.scripts["dispatch"]`, the registered dispatch script (its `sha` and `script`),
  called with KEYS = [namespace] and ARGV = `DISPATCH_ARGS` followed by the command's own:
  `enqueue` (message id, data), `ack` (message id), `requeue` (message ids, none at all
  for a mere heartbeat), `qsize` (none). Every call first refreshes the worker's heartbeat;
- `RedisBroker.broker_id`, `heartbeat_timeout`, `dead_message_ttl`,
  `_should_do_maintenance(command)` and `_max_unpack_size()`: the values of those arguments,
  as Dramatiq's own `_dispatch` gives them. The script does a queue's maintenance when
  `do_maintenance` is 1: the messages that worker processes silent for `heartbeat_timeout`
  ms had fetched from that queue and not acknowledged go back to it;
- the message options `RedisBroker.enqueue` sets: `redis_message_id` (the message's id in
  Redis, one per enqueue) and, for a delayed message, `eta` (epoch milliseconds), the message
  moved to the delay queue (`dramatiq.common.dq_name`). `enqueue_many` prepares each message
  as `enqueue` does (`as_enqueued`), to send many in one round trip;
- where Redis keeps a queue's messages: the hash `<namespace>:<queue>.msgs` (Redis message id
  to the encoded message) holds every message of the queue from its enqueue until its
  acknowledgement (waiting, or fetched by a worker), `<queue>.DQ` being its delay queue, as
  dispatch.lua's header says; the consumer reads them with `Message.decode`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from uuid import uuid4

import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import current_millis, dq_name
from dramatiq.errors import DecodeError

# The Dramatiq versions whose private parts this module was checked against; pyproject.toml
# pins the same range.
TESTED_VERSIONS = ">=2.2,<2.3"
# The dispatch script's leading arguments, in order (dispatch.lua reads them as ARGV[1..8]).
DISPATCH_ARGS = (
    "command",
    "timestamp",
    "queue_name",
    "worker_id",
    "heartbeat_timeout",
    "dead_message_ttl",
    "do_maintenance",
    "max_unpack_size",
)


class RedisConsumer(_RedisConsumer):  # type: ignore[misc]
    """Dramatiq's Redis consumer, the parts of its state read here given names."""

    def holds_fetched(self) -> bool:
        """Whether messages fetched from Redis wait to be handed out."""
        return bool(self.message_cache)

    def prefetch_full(self) -> bool:
        """Whether it holds all it may prefetch (handed out and unacknowledged, or fetched)."""
        return bool(self.outstanding_message_count >= self.prefetch)

    def outstanding(self) -> int:
        """Messages fetched or handed out and not acknowledged yet."""
        return int(self.outstanding_message_count)

    def free_place(self, message: Any) -> None:
        """Give back the prefetch place of a message acknowledged apart from `ack`, as
        Dramatiq's own `ack` does once it has sent the acknowledgement."""
        self.queued_message_ids.discard(message.message_id)


class RedisBrokerBase(RedisBroker):  # type: ignore[misc]
    """Dramatiq's Redis broker, with its dispatch script callable from here."""

    consumer_type: ClassVar[type[RedisConsumer]] = RedisConsumer

    @property
    def consumer_class(self) -> type[RedisConsumer]:
        return self.consumer_type

    def do_enqueue(self, queue_name: str, redis_message_id: str, encoded: bytes) -> None:
        # Dramatiq's `enqueue` calls this once its middleware has run.
        self.store_message(queue_name, redis_message_id, encoded)

    def store_message(self, queue_name: str, redis_message_id: str, encoded: bytes) -> None:
        """Put a message on `queue_name` (a delay queue's name for a delayed message)."""
        raise_first(self.store_messages([(queue_name, redis_message_id, encoded)]))

    def dispatch_args(
        self, command: str, queue_name: str, *args: Any, maintenance: bool = False
    ) -> list[Any]:
        """The arguments Dramatiq's `_dispatch` gives its dispatch script for `command`; with
        `maintenance`, the call also does the queue's maintenance, which Dramatiq leaves to
        chance (one call in a thousand)."""
        return [
            command,
            current_millis(),
            queue_name,
            self.broker_id,
            self.heartbeat_timeout,
            self.dead_message_ttl,
            1 if maintenance else self._should_do_maintenance(command),
            self._max_unpack_size(),
            *args,
        ]

    def enqueue_many(
        self, messages: Sequence[tuple[Message, int | None]]
    ) -> list[Exception | None]:
        """Enqueue (message, delay in ms or None) pairs as `enqueue` would one by one, with the
        same options and middleware hooks, but in one round trip. Returns, for each, None
        once Redis holds it, else why not."""
        outcomes: list[Exception | None] = []
        ready: list[tuple[int, Message, int | None]] = []
        for message, delay in messages:
            message = as_enqueued(message, delay)
            try:
                self.emit_before("enqueue", message, delay)
            except Exception as exc:  # noqa: BLE001 - a middleware refused it: that one only
                outcomes.append(exc)
                continue
            outcomes.append(None)
            ready.append((len(outcomes) - 1, message, delay))
        stored = self.store_messages(
            [(m.queue_name, redis_message_id(m), m.encode()) for _, m, _ in ready]
        )
        for (index, message, delay), error in zip(ready, stored, strict=True):
            outcomes[index] = error
            if error is None:
                self.emit_after("enqueue", message, delay)
        return outcomes

    def store_messages(self, messages: list[tuple[str, str, bytes]]) -> list[Exception | None]:
        """Put (queue name, Redis message id, data) messages on their queues in one round trip;
        None for each stored, else its error."""
        calls = [self.dispatch_args("enqueue", *message) for message in messages]
        return [error_of(reply) for reply in self.run_dispatch(calls)[: len(calls)]]

    def run_dispatch(
        self, calls: list[list[Any]], then: Sequence[tuple[Any, ...]] = ()
    ) -> list[Any]:
        """Run the dispatch script once per call, then the commands `then`, in one pipeline
        (one round trip). Returns the replies, the calls' then `then`'s, each failure as its
        exception. Calls refused for want of the script (Redis restarted) run again, with
        `then`, once it is loaded."""
        replies = self._pipeline(calls, then)
        missing = [
            i for i, reply in enumerate(replies[: len(calls)])
            if isinstance(reply, redis.exceptions.NoScriptError)
        ]  # fmt: skip
        if missing:
            self.client.script_load(self.scripts["dispatch"].script)
            again = self._pipeline([calls[i] for i in missing], then)
            for i, reply in zip(missing, again, strict=False):
                replies[i] = reply
            replies[len(calls) :] = again[len(missing) :]
        return replies

    def _pipeline(self, calls: list[list[Any]], then: Sequence[tuple[Any, ...]]) -> list[Any]:
        # EVALSHA by hand: a registered script run in a pipeline asks SCRIPT EXISTS first,
        # which is a second round trip every time.
        pipe = self.client.pipeline(transaction=False)
        for args in calls:
            pipe.evalsha(self.scripts["dispatch"].sha, 1, self.namespace, *args)
        for command in then:
            pipe.execute_command(*command)
        return list(pipe.execute(raise_on_error=False))


def as_enqueued(message: Message, delay: int | None) -> Message:
    """The message as `RedisBroker.enqueue` stores it: with an id of its own in Redis and, when
    delayed, on the queue's delay queue with the `eta` it falls due at (epoch ms)."""
    message = message.copy(options={"redis_message_id": str(uuid4())})
    if delay is None:
        return message
    return message.copy(
        queue_name=dq_name(message.queue_name), options={"eta": current_millis() + delay}
    )


def error_of(reply: Any) -> Exception | None:
    """A pipeline's reply as an outcome: the exception, or None for any other reply."""
    return reply if isinstance(reply, Exception) else None


def raise_first(replies: Sequence[Any]) -> None:
    """Raise the first failure among a pipeline's replies."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply


def queue_size(broker: RedisBroker, queue_name: str) -> int:
    """Messages Redis holds for the queue and its delay queue, this worker's unacknowledged
    ones included (the dispatch script's `qsize`)."""
    return int(broker.do_qsize(queue_name))


def held_messages(broker: RedisBroker, queue_name: str) -> list[Message]:
    """Every message Redis holds for the queue and its delay queue: waiting, delayed, or
    fetched by a worker and not acknowledged yet (messages it cannot decode are left out)."""
    held = []
    for name in (queue_name, dq_name(queue_name)):
        for _, data in broker.client.hscan_iter(f"{broker.namespace}:{name}.msgs", count=1000):
            try:
                held.append(Message.decode(data))
            except DecodeError:
                continue  # not a message at all: it holds no job
    return held


def redis_message_id(message: Any) -> str:
    """The id under which Redis holds this delivery of the message."""
    return str(message.options["redis_message_id"])


def eta_ms(message: Any) -> int | None:
    """When a delayed message falls due (epoch ms); None for any other message."""
    eta = message.options.get("eta")
    if isinstance(eta, int | float):  # Dramatiq itself resets any other eta
        return int(eta)
    return None
