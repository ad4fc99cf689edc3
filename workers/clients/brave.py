"""Brave Search's web search API, paced for every worker process at once.

Every answer carries `X-RateLimit-Limit`, `-Remaining` and `-Reset`, each "per-second,
per-month". The client keeps, in Redis, the earliest moment the next call may go and the
spacing the plan allows (1 / the per-second limit, with a margin), so all processes together
stay within the plan: a call takes the next slot once it has come (one atomic script on
Redis's clock), sleeping until then, and asks at once.
A window found empty (Remaining 0) pushes the next slot past its Reset; a 429 does the same
with Retry-After (or the Reset), and is retried while the wait is short (BRAVE_MAX_WAIT_S),
otherwise raised as a TransientError carrying the wait. A month's quota used up is permanent
until the month turns. Answers are cached in Redis (BRAVE_CACHE_TTL_S, 24 h) by query and
page, so the same query is not paid for twice; a cached answer says so.

`offset` is Brave's page index (0-9), not a row offset.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis

from config import Settings
from workers.core.errors import PermanentError, TransientError

log = logging.getLogger("backline.clients.brave")
MAX_OFFSET = 9
MAX_429_RETRIES = 5

# Take the next slot if it has come (0), else say how many ms until it does. Taken when the
# caller is ready to send, so a caller held up after taking it cannot crowd the next one.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local spacing = tonumber(redis.call('GET', KEYS[2]) or ARGV[1])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
if now >= nxt then
  redis.call('SET', KEYS[1], now + spacing, 'PX', 3600000)
  return 0
end
return nxt - now
"""
# Push the next slot to at least ARGV[1] (ms).
_HOLD = """
local at = tonumber(ARGV[1])
if at > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], at, 'PX', 3600000)
end
return 1
"""


@dataclass(frozen=True)
class WebResult:
    url: str
    title: str
    description: str


@dataclass(frozen=True)
class Page:
    results: list[WebResult]
    altered: str | None  # the query as Brave's spellcheck rewrote it
    more_available: bool
    cached: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _pair(value: str | None) -> tuple[float, float] | None:
    """ "1, 15000" -> (1.0, 15000.0): the per-second and per-month figures."""
    try:
        first, second = (float(v) for v in (value or "").split(","))
    except ValueError:
        return None
    return first, second


class Brave:
    def __init__(self, settings: Settings, client: redis.Redis | None = None) -> None:
        self.settings = settings
        self.redis = client or redis.Redis.from_url(settings.redis_url)
        prefix = f"{settings.broker_namespace}:brave"
        self._next_key, self._spacing_key = f"{prefix}:next_ms", f"{prefix}:spacing_ms"
        self._cache_prefix = f"{prefix}:cache:"
        self._acquire = self.redis.register_script(_ACQUIRE)
        self._hold = self.redis.register_script(_HOLD)
        self.http = httpx.Client(
            base_url=settings.brave_base_url,
            timeout=settings.brave_timeout_s,
            headers={
                "Accept": "application/json",
                "X-Subscription-Token": settings.brave_api_key or "unset",
            },
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Brave:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def search(
        self,
        query: str,
        *,
        page: int = 0,
        country: str | None = None,
        before_paid_call: Callable[[], None] | None = None,
    ) -> Page:
        """One page (20 results) of web results for `query`. `before_paid_call` runs before a
        call that is not answered from the cache (a budget check, which may raise)."""
        if not 0 <= page <= MAX_OFFSET:
            raise ValueError(f"page must be 0 to {MAX_OFFSET}")
        params: dict[str, Any] = {"q": query[:400], "count": 20, "offset": page}
        if country:
            params["country"] = country
        key = (
            self._cache_prefix
            + hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
        )
        cached: bytes | None = self.redis.get(key)  # type: ignore[assignment]
        if cached is not None:
            return self._page(json.loads(cached), cached=True)
        if before_paid_call is not None:
            before_paid_call()
        body = self._call(params)
        self.redis.set(key, json.dumps(body), ex=self.settings.brave_cache_ttl_s)
        return self._page(body, cached=False)

    def _call(self, params: dict[str, Any]) -> dict[str, Any]:
        for _ in range(MAX_429_RETRIES + 1):
            self._wait_for_slot()
            try:
                response = self.http.get("/web/search", params=params)
            except httpx.TransportError as exc:
                raise TransientError(f"Brave Search unreachable: {exc}") from exc
            self._learn(response)
            if response.status_code == 429:
                wait_s = self._wait_after_429(response)
                if wait_s > self.settings.brave_max_wait_s:
                    raise TransientError("Brave Search rate limit", retry_after_s=wait_s)
                continue
            if response.status_code >= 500:
                raise TransientError(f"Brave Search answered {response.status_code}")
            if response.status_code != 200:
                raise PermanentError(
                    f"Brave Search refused the query ({response.status_code}): "
                    f"{response.text[:300]}"
                )
            body: dict[str, Any] = response.json()
            return body
        raise TransientError("Brave Search kept answering 429", retry_after_s=1.0)

    def _now_ms(self) -> int:
        seconds, micros = self.redis.time()  # type: ignore[misc] # one clock for all processes
        return int(seconds) * 1000 + int(micros) // 1000

    def _wait_for_slot(self) -> None:
        default_spacing_ms = 1000
        while True:
            wait_ms = int(
                self._acquire(keys=[self._next_key, self._spacing_key], args=[default_spacing_ms])
            )
            if wait_ms <= 0:
                return
            time.sleep(min(wait_ms, 1000) / 1000)

    def _learn(self, response: httpx.Response) -> None:
        """Take the plan's pace from the answer's X-RateLimit-* headers."""
        limit = _pair(response.headers.get("X-RateLimit-Limit"))
        if limit and limit[0] > 0:
            # A margin over the plan's spacing: calls reserved 1/limit apart can still arrive
            # closer together (one waits on a slower connection than the next).
            self.redis.set(self._spacing_key, int(1250 / limit[0]) + 20, ex=3600)
        remaining = _pair(response.headers.get("X-RateLimit-Remaining"))
        reset = _pair(response.headers.get("X-RateLimit-Reset"))
        if remaining and reset:
            if remaining[1] <= 0 and response.status_code == 429:
                raise PermanentError("the Brave Search plan's monthly quota is used up")
            if remaining[0] <= 0:
                self._hold_until(self._now_ms() + int(reset[0] * 1000))

    def _wait_after_429(self, response: httpx.Response) -> float:
        wait_s = 1.0
        retry_after = response.headers.get("Retry-After")
        reset = _pair(response.headers.get("X-RateLimit-Reset"))
        if retry_after and retry_after.strip().isdigit():
            wait_s = float(retry_after)
        elif reset:
            wait_s = max(reset[0], 0.05)
        self._hold_until(self._now_ms() + int(wait_s * 1000))
        log.info("Brave Search rate limited", extra={"wait_s": wait_s})
        return wait_s

    def _hold_until(self, at_ms: int) -> None:
        self._hold(keys=[self._next_key], args=[at_ms])

    @staticmethod
    def _page(body: dict[str, Any], *, cached: bool) -> Page:
        query = body.get("query") or {}
        results = [
            WebResult(
                url=str(r["url"]),
                title=str(r.get("title", "")),
                description=str(r.get("description", "")),
            )
            for r in (body.get("web") or {}).get("results", [])
            if isinstance(r, dict) and r.get("url")
        ]
        return Page(
            results=results,
            altered=query.get("altered") or None,
            more_available=bool(query.get("more_results_available")),
            cached=cached,
            raw=body,
        )
