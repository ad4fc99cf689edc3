"""A cap on the waits one user holds open at once, over every API process.

A wait (GET /api/v1/jobs/<id>?wait=N, POST with `Prefer: wait=N`, an event stream) costs the
server little (config/server.py), but not nothing: a socket, a greenlet, a subscription. The
per-user rate limit counts requests, not how long each is held, so it cannot bound them;
this does. Each open wait is a member of a sorted set per user in Redis, scored by when it
lapses: a process that dies with waits open leaves members that lapse on their own, and a
stream renews its own while it runs. Past the cap a wait is not refused: the request answers
at once with the current state and Retry-After, as if it had not asked to wait.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from flask import Flask, current_app

from config import Settings

log = logging.getLogger("backline.waits")
EXTENSION = "backline.waits"
# Lapsed members go, then a new one joins if there is room: 1 if it did, 0 if not. The score
# is Redis's own clock, so API hosts whose clocks differ still agree.
_TAKE = """
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
    return 0
end
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[3])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 1
"""
_RENEW = """
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[1]), ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
    redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
end
return 1
"""


_COUNT = """
local now = redis.call('TIME')
return redis.call('ZCOUNT', KEYS[1], '(' .. (now[1] * 1000 + math.floor(now[2] / 1000)), '+inf')
"""


class WaitSlots:
    def __init__(self, settings: Settings) -> None:
        self._client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=1, socket_connect_timeout=1
        )
        self._take = self._client.register_script(_TAKE)
        self._renew = self._client.register_script(_RENEW)
        self._count = self._client.register_script(_COUNT)
        self._prefix = f"{settings.rate_limit_key_prefix}:waits:"
        self.cap = settings.max_waits_per_user

    def take(self, user_id: uuid.UUID | str, lease_s: float, cap: int | None = None) -> Slot | None:
        """A slot for one wait of at most `lease_s` seconds (renewable); None past the cap
        (the user's, or `cap`), or when Redis does not answer (the request then answers at
        once: nothing is lost)."""
        key, member = f"{self._prefix}{user_id}", uuid.uuid4().hex
        try:
            taken = self._take(keys=[key], args=[cap or self.cap, int(lease_s * 1000), member])
        except redis.RedisError:  # uncounted rather than refused: refusing would make every
            # waiting client a tight polling loop while Redis is away
            log.warning("could not count a wait; waiting uncounted", exc_info=True)
            return Slot(None, None, key, member)
        return Slot(self._client, self._renew, key, member) if taken else None

    def count(self, user_id: uuid.UUID | str) -> int:
        """The waits held now under `user_id` (0 when Redis does not answer)."""
        try:
            return int(self._count(keys=[f"{self._prefix}{user_id}"]))
        except redis.RedisError:
            log.warning("could not count waits", exc_info=True)
            return 0

    @contextmanager
    def hold(self, user_id: uuid.UUID, lease_s: float) -> Iterator[Slot | None]:
        """`take`, released when the block ends."""
        slot = self.take(user_id, lease_s)
        try:
            yield slot
        finally:
            if slot is not None:
                slot.release()


class Slot:
    """One open wait of a user's."""

    def __init__(self, client: redis.Redis | None, renew: Any, key: str, member: str) -> None:
        self._client, self._renew, self._key, self._member = client, renew, key, member

    def renew(self, lease_s: float) -> None:
        """Keep the slot `lease_s` seconds more (a stream calls this as it goes)."""
        if self._client is None:
            return
        try:
            self._renew(keys=[self._key], args=[int(lease_s * 1000), self._member])
        except redis.RedisError:
            log.warning("could not renew a wait", exc_info=True)

    def release(self) -> None:
        if self._client is None:
            return
        try:
            self._client.zrem(self._key, self._member)
        except redis.RedisError:  # it lapses on its own
            log.warning("could not release a wait", exc_info=True)


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[EXTENSION] = WaitSlots(settings)


def wait_slots() -> WaitSlots:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]
