"""GET /metrics: the API's Prometheus metrics, and the platform's figures at scrape time.

HTTP requests are counted by route (the URL rule, never the raw path, so ids do not explode
the series) and status, with a latency histogram. Under gunicorn several processes answer
requests: with PROMETHEUS_MULTIPROC_DIR set, each writes its figures to files there and any
of them sums them all for a scrape. The platform's figures (jobs by kind and status, queue
depth, the dead-letter set, retries scheduled, paused queues, workers alive) are computed from
PostgreSQL, the broker and Redis when the scrape arrives, so they are right whichever process
answers.

Access: with METRICS_TOKEN set a scrape must send `Authorization: Bearer <token>`; without
it the endpoint is open in development and test and does not exist (404) in production.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from config import Settings
from models.core import ops, ops_stats
from models.core.errors import AuthenticationFailed, NotFound
from web.core.context import platform
from workers.core import presence
from workers.core.broker import queue_depth
from workers.core.registry import queues

log = logging.getLogger("backline.metrics")
METRICS = "backline.metrics"
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class HttpMetrics:
    """The API process's own metrics, in a registry of its own (one per app)."""

    def __init__(self, settings: Settings) -> None:
        self.multiprocess = bool(settings.prometheus_multiproc_dir)
        if self.multiprocess:
            Path(settings.prometheus_multiproc_dir).mkdir(parents=True, exist_ok=True)
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "backline_http_requests",
            "HTTP requests answered, by method, route (URL rule) and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "backline_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        # A sender's signature that did not verify, by configured source and reason (both
        # from fixed sets: an unknown source is a 404 before it is counted).
        self.webhook_failures = Counter(
            "backline_webhook_signature_failures",
            "Webhook deliveries refused because their signature did not verify.",
            ["source", "reason"],
            registry=self.registry,
        )

    def scrape_registry(self) -> Any:
        """What a scrape reads: this process's metrics or every process's, plus the platform."""
        registry = CollectorRegistry()
        if self.multiprocess:
            multiprocess.MultiProcessCollector(registry)
        else:
            registry.register(_Forward(self.registry))
        registry.register(PlatformCollector())
        return registry


class _Forward:
    """Collects another registry's metrics into the scrape's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        return self._registry.collect()


class PlatformCollector:
    """Figures computed at scrape time from the database, the broker and Redis."""

    def collect(self) -> Iterator[Metric]:
        p = platform()
        up = GaugeMetricFamily(
            "backline_scrape_source_up", "Whether a source answered this scrape.", labels=["source"]
        )
        try:
            yield from self._database(p)
            up.add_metric(["database"], 1)
        except Exception:
            log.warning("metrics: database figures unavailable", exc_info=True)
            up.add_metric(["database"], 0)
        try:
            yield self._depths(p)
            up.add_metric(["broker"], 1)
        except Exception:
            log.warning("metrics: broker figures unavailable", exc_info=True)
            up.add_metric(["broker"], 0)
        try:
            yield self._workers(p)
            up.add_metric(["redis"], 1)
        except Exception:
            log.warning("metrics: worker presence unavailable", exc_info=True)
            up.add_metric(["redis"], 0)
        yield up

    def _database(self, p: Any) -> Iterator[Metric]:
        factory = p.read_sessions or p.sessions
        with factory() as session:
            rows = ops_stats.jobs_by_kind_and_status(session=session)
            paused = set(ops.paused_queues(session=session))
        jobs = GaugeMetricFamily(
            "backline_jobs",
            "Unfinished and failed jobs by kind, queue and status (from the jobs table).",
            labels=["kind", "queue", "status"],
        )
        dead = GaugeMetricFamily(
            "backline_dead_letter_jobs",
            "Failed jobs (the dead-letter set) by kind.",
            labels=["kind"],
        )
        retrying = GaugeMetricFamily(
            "backline_retries_scheduled",
            "Jobs queued again after a failed attempt, waiting for their retry, by kind.",
            labels=["kind"],
        )
        dead_by_kind: dict[str, int] = {}
        retry_by_kind: dict[str, int] = {}
        for kind, queue, status, n, retries in rows:
            jobs.add_metric([kind, queue, status], n)
            if status == "failed":
                dead_by_kind[kind] = dead_by_kind.get(kind, 0) + n
            retry_by_kind[kind] = retry_by_kind.get(kind, 0) + retries
        for kind, n in sorted(dead_by_kind.items()):
            dead.add_metric([kind], n)
        for kind, n in sorted(retry_by_kind.items()):
            retrying.add_metric([kind], n)
        paused_gauge = GaugeMetricFamily(
            "backline_queue_paused", "1 while operators keep a queue paused.", labels=["queue"]
        )
        for queue in sorted(queues() | paused):
            paused_gauge.add_metric([queue], 1 if queue in paused else 0)
        yield from (jobs, dead, retrying, paused_gauge)

    def _depths(self, p: Any) -> Metric:
        depth = GaugeMetricFamily(
            "backline_queue_depth",
            "Messages the broker holds per queue (delayed ones included).",
            labels=["queue"],
        )
        for queue in sorted(queues()):
            depth.add_metric([queue], queue_depth(p.broker, queue))
        return depth

    def _workers(self, p: Any) -> Metric:
        client = presence.client_for(p.settings.redis_url)
        try:
            alive = presence.alive(client, p.settings.broker_namespace)
        finally:
            client.close()
        return GaugeMetricFamily(
            "backline_workers_alive", "Worker processes with a live presence record.", len(alive)
        )


def metrics() -> HttpMetrics:
    return current_app.extensions[METRICS]  # type: ignore[no-any-return]


def record_webhook_signature_failure(source: str, reason: str) -> None:
    metrics().webhook_failures.labels(source, reason).inc()


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    # Label values come from a fixed set: anyone can send an invented method, and every new
    # value would be a new series kept for the life of the process.
    method = request.method if request.method in KNOWN_METHODS else "other"
    m = metrics()
    m.requests.labels(method, route, str(response.status_code)).inc()
    if started is not None:
        m.latency.labels(method, route).observe(time.perf_counter() - started)
    return response


def _authorise(settings: Settings) -> None:
    if not settings.metrics_token:
        if settings.is_production:
            raise NotFound("not found")
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = settings.metrics_token.encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise AuthenticationFailed("send the metrics token: Authorization: Bearer <token>")


def scrape() -> Response:
    """Prometheus text exposition of the API and the platform."""
    _authorise(platform().settings)
    body = generate_latest(metrics().scrape_registry())
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[METRICS] = HttpMetrics(settings)
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.add_url_rule("/metrics", "metrics", scrape, methods=["GET"])
