"""A stand-in for Brave Search's web search API (`GET /res/v1/web/search`).

It answers in Brave's shape (`{"type": "search", "query": {original, altered,
more_results_available}, "web": {"results": [...]}}`) with the plan's X-RateLimit-* headers
("per-second, per-month"), and enforces the per-second limit as Brave does: a call sooner
than the plan allows gets the 429 RATE_LIMITED body (only successful calls count). Pages
overlap (page 1 repeats the second half of page 0), a known misspelling comes back in
`query.altered`, and a test scripts failures in order with `app.script` ("429", "500",
"slow"). `app.calls` counts the successful calls, `app.rejected` the 429s, `app.times` holds
the moment (monotonic) each successful call arrived, for counting calls per window (`busiest`);
`X-RateLimit-Remaining` says what is left of the current second. `app.sites` are the base URLs
the results point at (devstack/fakes/sites.py serves such pages).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from devstack.fakes import Fake

PER_PAGE = 10
PAGES = 3
MONTHLY = 15000
SPELLING = {"plumbr": "plumber", "resturant": "restaurant", "dentst": "dentist"}


class FakeBrave:
    def __init__(self, rate_per_s: float = 1.0, sites: list[str] | None = None) -> None:
        self.rate_per_s = rate_per_s
        self.sites = sites or [f"https://www.company-{i}.example" for i in range(20)]
        self.script: list[str] = []
        self.calls = 0
        self.rejected = 0
        self.queries: list[tuple[str, int]] = []
        self.times: list[float] = []
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self.handle(Request(environ))(environ, start_response)

    def busiest(self, window_s: float = 1.0) -> int:
        """The most successful calls that arrived within any `window_s`."""
        times = sorted(self.times)
        return max((sum(1 for t in times if s <= t < s + window_s) for s in times), default=0)

    def _headers(self, remaining_s: int) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": f"{self.rate_per_s:g}, {MONTHLY}",
            "X-RateLimit-Policy": f"{self.rate_per_s:g};w=1, {MONTHLY};w=2592000",
            "X-RateLimit-Remaining": f"{remaining_s}, {MONTHLY - self.calls}",
            "X-RateLimit-Reset": "1, 1419704",
        }

    def _rate_limited(self) -> Response:
        self.rejected += 1
        body = {
            "type": "ErrorResponse",
            "error": {
                "id": str(uuid.uuid4()),
                "status": 429,
                "detail": "Request rate limit exceeded for plan",
                "meta": {
                    "plan": "Free",
                    "rate_limit": self.rate_per_s,
                    "rate_current": 1,
                    "quota_limit": MONTHLY,
                    "quota_current": self.calls,
                    "org_rate_limit": None,
                    "org_rate_current": 0,
                    "component": "rate_limiter",
                },
                "code": "RATE_LIMITED",
            },
            "time": int(time.time()),
        }
        headers = self._headers(0)
        headers["X-RateLimit-Reset"] = f"{max(1 / self.rate_per_s, 0.05):.2f}, 1419704"
        return Response(json.dumps(body), 429, headers, mimetype="application/json")

    def handle(self, request: Request) -> Response:
        if request.path != "/res/v1/web/search":
            return Response(
                '{"type":"ErrorResponse","error":{"status":404,"code":"NOT_FOUND"}}',
                404,
                mimetype="application/json",
            )
        if not request.headers.get("X-Subscription-Token"):
            return Response(
                json.dumps(
                    {
                        "type": "ErrorResponse",
                        "error": {
                            "status": 422,
                            "code": "SUBSCRIPTION_TOKEN_INVALID",
                            "detail": "The provided subscription token is invalid.",
                        },
                    }
                ),
                422,
                mimetype="application/json",
            )
        query = request.args.get("q", "")
        try:
            page = int(request.args.get("offset", "0"))
            count = int(request.args.get("count", "20"))
        except ValueError:
            page, count = -1, 0
        if not 1 <= len(query) <= 400 or not 0 <= page <= 9 or not 1 <= count <= 20:
            return Response(
                json.dumps(
                    {
                        "type": "ErrorResponse",
                        "error": {
                            "status": 422,
                            "code": "VALIDATION",
                            "detail": "Unable to validate request",
                        },
                    }
                ),
                422,
                mimetype="application/json",
            )
        with self._lock:
            step = self.script.pop(0) if self.script else "ok"
            if step == "429":
                return self._rate_limited()
            if step == "500":
                return Response(
                    '{"type":"ErrorResponse","error":{"status":500}}',
                    500,
                    mimetype="application/json",
                )
            now = time.monotonic()
            if now - self._last < 1 / self.rate_per_s:
                return self._rate_limited()
            self._last = now
            self.calls += 1
            self.times.append(now)
            self.queries.append((query, page))
            # What is left of the plan's second, as Brave counts it: the calls of the last one.
            in_window = sum(1 for t in self.times if t > now - 1.0)
            headers = self._headers(max(int(self.rate_per_s) - in_window, 0))
        if step == "slow":
            time.sleep(3)
        return Response(
            json.dumps(self._body(query, page)), 200, headers, mimetype="application/json"
        )

    def _body(self, query: str, page: int) -> dict[str, Any]:
        words = query.split()
        altered = " ".join(SPELLING.get(w.lower(), w) for w in words)
        first = page * PER_PAGE // 2  # each page repeats half of the one before
        results = []
        for i in range(first, first + PER_PAGE) if page < PAGES else []:
            base = self.sites[(i + len(query)) % len(self.sites)]
            parts = urlsplit(base)
            results.append(
                {
                    "title": f"{altered.title()} — result {i + 1}",
                    "url": f"{base}/",
                    "description": f"<strong>{altered}</strong> services you can trust.",
                    "age": "March 3, 2026",
                    "page_age": "2026-03-03T00:00:00",
                    "language": "en",
                    "family_friendly": True,
                    "type": "search_result",
                    "is_source_local": False,
                    "meta_url": {
                        "scheme": parts.scheme,
                        "netloc": parts.netloc,
                        "hostname": parts.hostname,
                        "path": "› ",
                    },
                    "profile": {"name": parts.hostname, "url": f"{base}/"},
                }
            )
        return {
            "type": "search",
            "query": {
                "original": query,
                "altered": altered if altered != query else None,
                "more_results_available": page < PAGES - 1,
            },
            "web": {"type": "search", "results": results, "family_friendly": True},
            "mixed": {
                "type": "mixed",
                "main": [{"type": "web", "index": n, "all": False} for n in range(len(results))],
            },
        }


FAKE = Fake(
    name="Brave Search",
    base_url_variable="BRAVE_BASE_URL",
    key_variable="BRAVE_API_KEY",
    create_app=FakeBrave,
    path="/res/v1",
)
