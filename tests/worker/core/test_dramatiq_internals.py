"""The installed Dramatiq still has the private parts workers/core/dramatiq_internals.py uses.

Each test names what no longer matches, so that a Dramatiq upgrade fails here, plainly, rather
than somewhere in the wake-ups or the acknowledgements.
"""

from __future__ import annotations

import json
import re
import tomllib
import uuid
from pathlib import Path
from typing import Any

import dramatiq
import dramatiq.brokers.redis as dramatiq_redis
import redis
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from workers.core.dramatiq_internals import (
    DISPATCH_ARGS,
    TESTED_VERSIONS,
    RedisBrokerBase,
    RedisConsumer,
    eta_ms,
    held_messages,
    redis_message_id,
)

ROOT = Path(__file__).resolve().parents[3]
DISPATCH_LUA = Path(dramatiq_redis.__file__).parent / "redis" / "dispatch.lua"


class RecordingBroker(RedisBrokerBase):
    """Keeps what Dramatiq's `enqueue` stores instead of sending it (no Redis needed)."""

    def __init__(self) -> None:
        # A client that never connects: building the broker only registers its scripts.
        super().__init__(client=redis.Redis(host="127.0.0.1", port=1), middleware=[])
        self.stored: list[tuple[str, str, bytes]] = []

    def store_messages(self, messages: list[tuple[str, str, bytes]]) -> list[Exception | None]:
        self.stored.extend(messages)
        return [None] * len(messages)


class HookRecorder(dramatiq.Middleware):
    """Records the enqueue hooks a broker calls: (hook, queue, delay)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int | None]] = []

    def before_enqueue(self, broker: Any, message: Any, delay: int | None) -> None:
        self.calls.append(("before", message.queue_name, delay))

    def after_enqueue(self, broker: Any, message: Any, delay: int | None) -> None:
        self.calls.append(("after", message.queue_name, delay))


def test_the_installed_dramatiq_is_a_tested_version_and_pyproject_pins_the_same_range() -> None:
    installed = dramatiq.__version__
    assert installed in SpecifierSet(TESTED_VERSIONS), (
        f"Dramatiq {installed} is installed; workers/core/dramatiq_internals.py was checked "
        f"against {TESTED_VERSIONS}: check its private parts, then widen TESTED_VERSIONS"
    )
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = [Requirement(d) for d in pyproject["project"]["dependencies"]]
    (pin,) = [r for r in pins if r.name == "dramatiq"]
    assert pin.specifier == SpecifierSet(TESTED_VERSIONS), (
        f"pyproject.toml pins dramatiq{pin.specifier}, dramatiq_internals.TESTED_VERSIONS "
        f"says {TESTED_VERSIONS}"
    )


def test_the_redis_consumer_keeps_its_state_where_the_adapter_reads_it() -> None:
    broker = RecordingBroker()
    consumer = broker.consume("q", prefetch=3, timeout=100)

    assert isinstance(consumer, RedisConsumer), (
        "RedisBroker.consume no longer builds the class RedisBroker.consumer_class names"
    )
    for name, kind in (("message_cache", list), ("queued_message_ids", set), ("prefetch", int)):
        assert isinstance(getattr(consumer, name, None), kind), (
            f"_RedisConsumer no longer has `{name}` ({kind.__name__})"
        )
    assert isinstance(getattr(type(consumer), "outstanding_message_count", None), property), (
        "_RedisConsumer no longer has the property `outstanding_message_count`"
    )
    consumer.message_cache.append(b"fetched")
    consumer.queued_message_ids.update({"a", "b"})
    assert consumer.outstanding() == 3, (
        "outstanding_message_count no longer counts fetched and handed-out messages"
    )
    assert consumer.holds_fetched() and consumer.prefetch_full()


def test_an_acknowledgement_frees_the_place_the_adapter_frees() -> None:
    # _Acker acknowledges apart from Dramatiq's `ack`, then frees the place as `ack` does.
    broker = RecordingBroker()
    consumer = broker.consume("q", prefetch=1, timeout=100)
    message = dramatiq.Message("q", "nobody", (), {}, {"redis_message_id": "r1"})
    consumer.queued_message_ids.add(message.message_id)
    broker.do_ack = lambda *_args: None  # type: ignore[method-assign]

    consumer.ack(message)

    assert message.message_id not in consumer.queued_message_ids, (
        "_RedisConsumer.ack no longer discards the message id from `queued_message_ids`"
    )


def test_enqueue_stores_through_do_enqueue_with_the_options_the_adapter_reads() -> None:
    broker = RecordingBroker()

    now = broker.enqueue(dramatiq.Message("q", "nobody", (), {}, {}))
    later = broker.enqueue(dramatiq.Message("q", "nobody", (), {}, {}), delay=5000)

    assert [s[:2] for s in broker.stored] == [
        ("q", redis_message_id(now)),
        ("q.DQ", redis_message_id(later)),
    ], "RedisBroker.enqueue no longer stores through do_enqueue(queue, redis_message_id, data)"
    assert eta_ms(now) is None
    assert isinstance(later.options.get("eta"), int) and eta_ms(later) == later.options["eta"], (
        "RedisBroker.enqueue no longer sets the delayed message's `eta` (epoch ms)"
    )


def test_enqueue_many_stores_each_message_as_enqueue_does_with_the_same_hooks() -> None:
    broker = RecordingBroker()
    hooks = HookRecorder()
    broker.add_middleware(hooks)
    message = dramatiq.Message("q", "nobody", ("job-1",), {}, {"broker_priority": 3})

    broker.enqueue(message)
    broker.enqueue(message, delay=5000)
    one_by_one, hooked = broker.stored[:], hooks.calls[:]
    outcomes = broker.enqueue_many([(message, None), (message, 5000)])

    assert outcomes == [None, None]
    together = broker.stored[len(one_by_one) :]
    for (queue, rid, data), (their_queue, their_rid, their_data) in zip(
        together, one_by_one, strict=True
    ):
        ours, theirs = json.loads(data), json.loads(their_data)
        assert queue == their_queue and ours["queue_name"] == theirs["queue_name"]
        assert rid == ours["options"].pop("redis_message_id") != their_rid
        assert their_rid == theirs["options"].pop("redis_message_id")
        assert abs(ours["options"].pop("eta", 0) - theirs["options"].pop("eta", 0)) < 1000
        assert ours == theirs, f"RedisBroker.enqueue now stores {theirs}, as_enqueued {ours}"
    assert hooks.calls[len(hooked) :] == [
        ("before", "q", None),
        ("before", "q.DQ", 5000),
        ("after", "q", None),
        ("after", "q.DQ", 5000),
    ]
    assert sorted(hooked) == sorted(hooks.calls[len(hooked) :]), (
        "RedisBroker.enqueue now calls the enqueue hooks differently"
    )


def test_the_broker_has_the_values_of_the_dispatch_arguments() -> None:
    broker = RecordingBroker()
    for name in ("broker_id", "heartbeat_timeout", "dead_message_ttl", "namespace", "client"):
        assert hasattr(broker, name), f"RedisBroker no longer has `{name}`"
    for name in ("_should_do_maintenance", "_max_unpack_size"):
        assert callable(getattr(broker, name, None)), f"RedisBroker no longer has `{name}()`"
    script = broker.scripts.get("dispatch")
    assert script is not None and script.sha and script.script, (
        'RedisBroker.scripts["dispatch"] is no longer the registered dispatch script'
    )
    assert broker._should_do_maintenance("ack") == 0, "acks may now trigger maintenance"


def test_dramatiqs_own_dispatch_sends_the_arguments_in_the_adapters_order() -> None:
    broker = RecordingBroker()
    sent: list[Any] = []
    broker.scripts = {**broker.scripts, "dispatch": lambda args, keys: sent.append((keys, args))}
    broker._max_unpack_size = lambda: 4000  # type: ignore[method-assign]  # asks Redis

    broker.do_ack("q", "r1")
    ours = broker.dispatch_args("ack", "q", "r1")

    ((keys, theirs),) = sent
    assert keys == [broker.namespace], f"the dispatch script's KEYS are now {keys}"
    assert len(theirs) == len(ours) and [theirs[0], *theirs[2:]] == [ours[0], *ours[2:]], (
        f"RedisBroker._dispatch now sends {theirs}, dispatch_args {ours}"
    )


def test_the_dispatch_script_reads_its_arguments_in_the_adapters_order() -> None:
    lua = DISPATCH_LUA.read_text()
    read = dict(re.findall(r"^local (\w+) = ARGV\[(\d+)\]$", lua, re.M))
    by_place = sorted(read, key=lambda name: int(read[name]))
    assert tuple(by_place) == DISPATCH_ARGS, (
        f"{DISPATCH_LUA} now reads ARGV as {by_place}, not {list(DISPATCH_ARGS)}"
    )
    assert f"for i={len(DISPATCH_ARGS) + 1},#ARGV do" in lua, (
        f"the command's own arguments no longer start at ARGV[{len(DISPATCH_ARGS) + 1}]"
    )
    assert re.search(r"^local namespace = KEYS\[1\]$", lua, re.M), (
        "KEYS[1] is no longer the namespace"
    )
    # Every call refreshes the worker's heartbeat, before any command (beat() relies on it).
    heartbeat = lua.index('redis.call("zadd", heartbeats, timestamp, worker_id)')
    assert heartbeat < lua.index('if command == "enqueue"'), "dispatch no longer beats first"


def test_the_dispatch_commands_take_the_arguments_the_adapter_gives() -> None:
    lua = DISPATCH_LUA.read_text()
    commands = dict(re.findall(r'if command == "(\w+)" then\n(.*?)\n\n', lua, re.S))
    expected = {
        "enqueue": ["local message_id = ARGS[1]", "local message_data = ARGS[2]"],
        "ack": ["local message_id = ARGS[1]"],
        "requeue": ["for i=1,#ARGS do", "local message_id = ARGS[i]"],
    }
    for command, lines in expected.items():
        body = commands.get(command)
        assert body is not None, f"{DISPATCH_LUA} has no `{command}` command any more"
        for line in lines:
            assert line in body, f"dispatch's `{command}` no longer has `{line}`"


def test_the_dispatch_script_keeps_messages_and_reclaims_where_the_adapter_expects() -> None:
    lua = DISPATCH_LUA.read_text()
    # held_messages reads a queue's messages from this hash, from enqueue until acknowledgement.
    assert 'local queue_messages = queue_full_name .. ".msgs"' in lua, (
        "a queue's messages are no longer kept in the hash `<namespace>:<queue>.msgs`"
    )
    assert 'redis.call("hset", queue_messages, message_id, message_data)' in lua
    assert re.search(r'"ack".*?redis\.call\("hdel", queue_messages, message_id\)', lua, re.S), (
        "an acknowledgement no longer removes the message from `<queue>.msgs`"
    )
    # reclaim() asks for maintenance, which gives dead workers' messages back to the queue.
    maintenance = lua[lua.index('if do_maintenance == "1" then') :]
    for line in (
        'redis.call("zrangebyscore", heartbeats, 0, timestamp - heartbeat_timeout)',
        'local dead_worker_queue_acks = dead_worker_acks .. "." .. queue_name',
        'redis.call("rpush", queue_full_name, message_id)',
    ):
        assert line in maintenance, f"dispatch's maintenance no longer has `{line}`"


def test_held_messages_decodes_what_enqueue_stored(redis_url: str) -> None:
    namespace = f"internals-{uuid.uuid4().hex[:8]}"
    broker = RedisBrokerBase(client=redis.Redis.from_url(redis_url), namespace=namespace)
    try:
        now = broker.enqueue(dramatiq.Message("q", "nobody", ("job-1",), {}, {}))
        later = broker.enqueue(dramatiq.Message("q", "nobody", ("job-2",), {}, {}), delay=60_000)

        held = {m.message_id: m for m in held_messages(broker, "q")}

        assert set(held) == {now.message_id, later.message_id}
        assert held[now.message_id].args == ("job-1",)
        assert held[later.message_id].queue_name == "q.DQ"
    finally:
        broker.client.delete(*broker.client.scan_iter(f"{namespace}:*"))
        broker.close()
