"""Prometheus metrics of the worker processes, and the server that exposes them.

Each worker process counts the jobs it runs by kind and outcome, times them, and counts the
retries it schedules. Dramatiq starts several worker processes: with PROMETHEUS_MULTIPROC_DIR
set, prometheus-client writes every process's figures to files in that directory, and one
exposition server (a process Dramatiq forks from its main process, see workers/__main__.py)
sums them for a scrape on WORKER_METRICS_PORT. The outcomes are Backline's, not Dramatiq's: a
job that fails and is retried is one `retried` here, while Dramatiq saw a message that ran fine.

    backline_jobs_processed_total{kind, outcome}   succeeded | failed | retried | cancelled |
                                                   interrupted (queued again on shutdown) | lost
    backline_job_duration_seconds{kind, outcome}   histogram of one attempt's run time
    backline_job_retries_total{kind}               retries scheduled after a transient failure
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
    start_http_server,
)

from config import Settings, load_settings

DURATION_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


@dataclass(frozen=True)
class JobMetrics:
    processed: Counter
    duration: Histogram
    retries: Counter


@functools.cache
def job_metrics() -> JobMetrics:
    """The worker's metrics, created on first use (once per process)."""
    return JobMetrics(
        processed=Counter(
            "backline_jobs_processed",
            "Job attempts run by this worker pool, by kind and outcome.",
            ["kind", "outcome"],
        ),
        duration=Histogram(
            "backline_job_duration_seconds",
            "Run time of one job attempt, by kind and outcome.",
            ["kind", "outcome"],
            buckets=DURATION_BUCKETS_S,
        ),
        retries=Counter(
            "backline_job_retries",
            "Retries scheduled after a transient failure, by kind.",
            ["kind"],
        ),
    )


def observe_job(kind: str, outcome: str, duration_s: float) -> None:
    metrics = job_metrics()
    metrics.processed.labels(kind, outcome).inc()
    metrics.duration.labels(kind, outcome).observe(duration_s)
    if outcome == "retried":
        metrics.retries.labels(kind).inc()


def exposition_registry(settings: Settings) -> Any:
    """What a scrape of the workers reads: every process's files, or this process's own."""
    if not settings.prometheus_multiproc_dir:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=settings.prometheus_multiproc_dir)
    return registry


def clear_multiproc_dir(settings: Settings) -> None:
    """Remove the files of an earlier run (counters restart with the processes)."""
    if settings.prometheus_multiproc_dir:
        directory = Path(settings.prometheus_multiproc_dir)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink(missing_ok=True)


def start_exposition(settings: Settings, port: int, addr: str = "127.0.0.1") -> Any:
    """Serve the workers' metrics on `port` (0: any free port); returns the server."""
    server, _thread = start_http_server(port, addr, registry=exposition_registry(settings))
    return server


def serve() -> None:
    """Dramatiq fork function: serve the workers' metrics until the worker pool stops."""
    settings = load_settings()
    start_exposition(settings, settings.worker_metrics_port, settings.worker_metrics_host)
    threading.Event().wait()
