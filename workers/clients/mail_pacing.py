"""The pace of sending, one for every worker process: a shared rate, a rate per recipient
domain, and a slow-down when the provider pushes back.

    pacer = MailPacer.from_settings(settings)
    pacer.wait(mail.recipient_domain, sleep=job.sleep)   # returns when this mail may go
    ...
    except MailDeferred as later:
        if later.throttled:
            pacer.slow_down(later.retry_after)

Both rates are buckets of the generic cell rate algorithm (a token bucket holding one token,
kept as the time the next send is due), in Redis, taken together in one Lua script so that no
process can take one and not the other; the clock is Redis's, so processes on several
machines agree. A send is let through when both its domain's bucket and the shared one have
a token, else the script says how long until one does. `slow_down` halves the shared rate
(at most once a second, down to a sixteenth) for MAIL_SLOWDOWN_S, and when the provider
named a wait (`Retry-After`) nobody sends before it is over; then the full rate comes back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

import redis

from config import Settings

MIN_FACTOR = 1 / 16
MAX_NAP_S = 1.0  # a waiting sender looks again at least this often (a slow-down may end)

# KEYS: shared bucket, domain bucket, slow-down hash. ARGV: shared interval, domain interval.
# Returns 0 when the send may go (both buckets taken), else the seconds to wait, as a string.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local factor = tonumber(redis.call('HGET', KEYS[3], 'factor') or '1')
local shared_interval = tonumber(ARGV[1]) / factor
local domain_interval = tonumber(ARGV[2])
local shared_due = tonumber(redis.call('GET', KEYS[1]) or '0')
local domain_due = tonumber(redis.call('GET', KEYS[2]) or '0')
local wait = math.max(shared_due - now, domain_due - now, 0)
if wait > 0 then
  return string.format('%.6f', wait)
end
local function take(key, interval)
  local due = math.max(tonumber(redis.call('GET', key) or '0'), now) + interval
  redis.call('SET', key, string.format('%.6f', due), 'PX', math.ceil((due - now) * 1000) + 1000)
end
take(KEYS[1], shared_interval)
take(KEYS[2], domain_interval)
return '0'
"""

# KEYS: slow-down hash, shared bucket. ARGV: hold seconds, retry-after seconds (or -1), floor.
_SLOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local factor = tonumber(redis.call('HGET', KEYS[1], 'factor') or '1')
local changed = tonumber(redis.call('HGET', KEYS[1], 'changed') or '0')
if now - changed >= 1 then
  factor = math.max(tonumber(ARGV[3]), factor / 2)
  changed = now
end
local retry_after = tonumber(ARGV[2])
local hold = math.max(tonumber(ARGV[1]), retry_after)
redis.call('HSET', KEYS[1], 'factor', tostring(factor), 'changed', string.format('%.6f', changed))
redis.call('PEXPIRE', KEYS[1], math.ceil(hold * 1000))
if retry_after > 0 then
  local resume = now + retry_after
  local due = tonumber(redis.call('GET', KEYS[2]) or '0')
  if due < resume then
    local keep_ms = math.ceil(retry_after * 1000) + 1000
    redis.call('SET', KEYS[2], string.format('%.6f', resume), 'PX', keep_ms)
  end
end
return tostring(factor)
"""


class MailPacer:
    """At most `per_s` sends per second over every process using `redis_url`, and at most
    `per_domain_per_s` to one recipient domain; `slow_down` lowers the first for a while."""

    def __init__(
        self,
        redis_url: str,
        per_s: float,
        per_domain_per_s: float,
        *,
        slowdown_s: float = 60.0,
        key: str = "backline:mail-pace",
    ) -> None:
        if per_s <= 0 or per_domain_per_s <= 0:
            raise ValueError("send rates must be above 0")
        self._redis = redis.Redis.from_url(redis_url)
        self._interval = 1.0 / per_s
        self._domain_interval = 1.0 / per_domain_per_s
        self._slowdown_s = slowdown_s
        self._key = key
        self._take = self._redis.register_script(_TAKE)
        self._slow = self._redis.register_script(_SLOW)

    @classmethod
    def from_settings(cls, settings: Settings) -> MailPacer:
        return cls(
            settings.redis_url,
            settings.mail_send_per_s,
            settings.mail_send_per_domain_per_s,
            slowdown_s=settings.mail_slowdown_s,
            key=f"{settings.broker_namespace}:mail-pace",
        )

    def wait(
        self,
        recipient_domain: str,
        sleep: Callable[[float], None] = time.sleep,
        stop: Callable[[], bool] | None = None,
    ) -> bool:
        """Return True when a mail to `recipient_domain` may be sent, counting it as sent; or
        False, counting nothing, as soon as `stop()` is true (asked before each nap, so at
        least every MAX_NAP_S: a paused campaign's sender does not sit out a Retry-After)."""
        keys = [f"{self._key}:all", self._domain_key(recipient_domain), f"{self._key}:slow"]
        while True:
            wait_s = float(self._take(keys=keys, args=[self._interval, self._domain_interval]))
            if wait_s <= 0:
                return True
            if stop is not None and stop():
                return False
            sleep(min(wait_s, MAX_NAP_S))

    def slow_down(self, retry_after: float | None = None) -> None:
        """The provider pushed back: halve the shared rate for a while, for every process,
        and send nothing before `retry_after` seconds have passed, if given."""
        self._slow(
            keys=[f"{self._key}:slow", f"{self._key}:all"],
            args=[self._slowdown_s, retry_after if retry_after else -1, MIN_FACTOR],
        )

    def rate(self) -> float:
        """The shared rate now, slow-down included (mails per second)."""
        factor = cast(bytes | None, self._redis.hget(f"{self._key}:slow", "factor"))
        return (float(factor) if factor else 1.0) / self._interval

    def close(self) -> None:
        self._redis.close()

    def _domain_key(self, domain: str) -> str:
        domain = domain.strip().lower()[:253] or "-"
        return f"{self._key}:domain:{domain}"
