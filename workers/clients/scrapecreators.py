"""ScrapeCreators, the creator-data API: one GET with its key, its errors sorted, its credits
counted and its request rate shared by every worker process.

    with ScrapeCreators(settings) as api:
        answer = api.get("/v1/tiktok/search/keyword", {"query": "gaming", "cursor": 0})
        answer.body["search_item_list"], answer.credits_charged

429, 5xx, malformed JSON and timeouts are tried again here (backoff with jitter, at least the
Retry-After the provider asked for) up to SCRAPECREATORS_ATTEMPTS, then raised as
ProviderUnavailable, a transient error the job's own retry takes over. 402 (out of credits),
401 and other 4xx, and "not found" sent as HTTP 200 with an `error` field, are permanent.
The provider documents no rate-limit headers: the rate is SCRAPECREATORS_REQUESTS_PER_S, counted
in Redis over a moving one-second window so that every process keeps to it together, and
shared out between the organisations asking at the moment (SharedRate).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
import redis
from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from config import Settings
from workers.core.errors import PermanentError, TransientError

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0
# A missing key answers 500 with this message: a configuration error, not an outage.
NO_KEY_MESSAGE = "apiKey is required"


class OutOfCredits(PermanentError):
    """The provider's account has no credits left (HTTP 402)."""


class ProviderRefused(PermanentError):
    """The provider refused the request (bad key, bad parameters): trying again cannot help."""


class ProfileNotFound(PermanentError):
    """The provider has no such profile (sent as HTTP 200 with `error: not_found`)."""


class ProviderUnavailable(TransientError):
    """429, 5xx, malformed answers or timeouts outlasted this client's tries."""


@dataclass(frozen=True)
class Answer:
    """A successful answer and what it cost."""

    body: dict[str, Any]
    credits_charged: int
    credits_remaining: int | None
    cached: bool


class SharedRate:
    """At most `per_second` requests per moving second, over every process using `redis_url`,
    shared fairly between the tenants asking at the moment.

    A tenant (an organisation) that names itself gets at most its share of the rate: the
    rate divided by the tenants that made a request in the last ACTIVE_S seconds. One
    organisation's twenty searches then share half the provider's rate while another's single
    search has the other half, instead of one twenty-first.
    """

    ACTIVE_S = 2.0

    def __init__(self, redis_url: str, per_second: int, key: str = "scrapecreators") -> None:
        # The `limits` library names a unix socket's Redis redis+unix://.
        url = "redis+" + redis_url if redis_url.startswith("unix://") else redis_url
        self._limiter = MovingWindowRateLimiter(storage_from_string(url))
        self._redis = redis.Redis.from_url(redis_url)
        self._per_second = per_second
        self._item = RateLimitItemPerSecond(per_second)
        self._key = key

    def wait(self, sleep: Callable[[float], None], tenant: str | None = None) -> None:
        while not self._take(tenant):
            reset_at, _ = self._limiter.get_window_stats(self._item, self._key)
            sleep(min(0.25, max(0.01, reset_at - time.time())))

    def _take(self, tenant: str | None) -> bool:
        if not self._limiter.test(self._item, self._key):
            return False
        if tenant is not None:
            share = max(1, self._per_second // self._active_tenants(tenant))
            _, remaining = self._limiter.get_window_stats(self._item, self._key, tenant)
            if self._per_second - remaining >= share:
                return False
            self._limiter.hit(self._item, self._key, tenant)
        return self._limiter.hit(self._item, self._key)

    def _active_tenants(self, tenant: str) -> int:
        now = time.time()
        key = f"{self._key}:tenants"
        pipe = self._redis.pipeline()
        pipe.zadd(key, {tenant: now})
        pipe.zremrangebyscore(key, 0, now - self.ACTIVE_S)
        pipe.zcard(key)
        pipe.expire(key, int(self.ACTIVE_S) + 1)
        return max(1, int(pipe.execute()[2]))


class ScrapeCreators:
    """A client of the API; `sleep` is the job's (so a cancel interrupts a wait), `tenant`
    the organisation whose share of the shared rate its requests count against."""

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rate: SharedRate | None = None,
        tenant: str | None = None,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._tenant = tenant
        self._rate = rate or SharedRate(
            settings.redis_url,
            settings.scrapecreators_requests_per_s,
            key=f"{settings.broker_namespace}:scrapecreators",
        )
        self._http = httpx.Client(
            base_url=settings.scrapecreators_base_url,
            headers={"x-api-key": settings.scrapecreators_api_key, "accept": "application/json"},
            timeout=settings.scrapecreators_timeout_s,
        )

    def __enter__(self) -> ScrapeCreators:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: dict[str, Any]) -> Answer:
        """GET `path`, tried again on transient failures; the answer or a classed error."""
        attempts = self._settings.scrapecreators_attempts
        for attempt in range(1, attempts + 1):
            try:
                return self._once(path, params)
            except ProviderUnavailable as exc:
                if attempt == attempts:
                    raise
                wait = _backoff_s(attempt, exc.retry_after_s)
                log.info(
                    "creator-data API unavailable; trying again",
                    extra={"path": path, "attempt": attempt, "wait_s": round(wait, 2)},
                )
                self._sleep(wait)
        raise AssertionError("unreachable")

    def _once(self, path: str, params: dict[str, Any]) -> Answer:
        self._rate.wait(self._sleep, self._tenant)
        try:
            response = self._http.get(path, params=params)
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(f"{path} timed out") from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"{path}: {type(exc).__name__}") from exc
        return _answer(path, response)


def _answer(path: str, response: httpx.Response) -> Answer:
    status = response.status_code
    if status == 429 or status >= 500:
        message = _message(response)
        if status == 500 and message == NO_KEY_MESSAGE:
            raise ProviderRefused("the creator-data API key is not set (SCRAPECREATORS_API_KEY)")
        raise ProviderUnavailable(
            f"{path} answered {status}", retry_after_s=_retry_after(response.headers)
        )
    if status == 402:
        raise OutOfCredits("the creator-data API account is out of credits")
    if status >= 400:
        raise ProviderRefused(f"{path} answered {status}: {_message(response)}")
    try:
        body = response.json()
    except ValueError:
        raise ProviderUnavailable(f"{path} answered malformed JSON") from None
    if not isinstance(body, dict):
        raise ProviderUnavailable(f"{path} answered {type(body).__name__}, not an object")
    if body.get("error"):
        if body.get("error") == "not_found" or body.get("errorStatus") == 404:
            raise ProfileNotFound(str(body.get("message") or "not found"))
        raise ProviderRefused(f"{path}: {body.get('error')}: {body.get('message', '')}")
    return Answer(
        body=body,
        # Every answer says what it cost; one that does not is counted at 1, the dearer guess.
        credits_charged=_int(body.get("credits_charged"), 1),
        credits_remaining=_int(body.get("credits_remaining"), None),
        cached=bool(body.get("cached")),
    )


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("message", "")) if isinstance(body, dict) else ""


def _retry_after(headers: httpx.Headers) -> float | None:
    try:
        return max(0.0, float(headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def _backoff_s(attempt: int, retry_after_s: float | None) -> float:
    """Exponential with full jitter, never less than the provider asked for."""
    jittered = random.uniform(0, min(MAX_BACKOFF_S, 0.25 * 2**attempt))  # noqa: S311 - jitter
    return max(jittered, retry_after_s or 0.0)


def _int(value: Any, default: int | None) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
