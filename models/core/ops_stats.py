"""What operators read about the job platform: queue counts, throughput, latency, job search.

The figures come from the jobs table (the truth about jobs, whichever broker carries them);
each is one statement. Throughput and latency read the jobs that finished inside the window
through the partial index on finished_at; queue counts read the unfinished and failed jobs
through the (status, queue) index.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from models.core.jobs import Job, JobStatus
from models.core.pages import newest_first


@dataclass
class QueueCounts:
    """Jobs of one queue by state, from the jobs table."""

    queued: int = 0  # due, waiting for a worker
    delayed: int = 0  # queued with run_after in the future (scheduled, or a retry's backoff)
    running: int = 0
    dead_letter: int = 0  # failed for good
    retrying: int = 0  # queued again after a failed attempt


def queue_counts(*, session: Session) -> dict[str, QueueCounts]:
    rows = session.execute(
        text(
            """
            SELECT queue,
                   count(*) FILTER (WHERE status = 'queued' AND run_after <= now()) AS queued,
                   count(*) FILTER (WHERE status = 'queued' AND run_after > now()) AS delayed,
                   count(*) FILTER (WHERE status = 'running') AS running,
                   count(*) FILTER (WHERE status = 'failed') AS dead_letter,
                   count(*) FILTER (WHERE status = 'queued' AND attempts > 0) AS retrying
            FROM jobs
            WHERE status IN ('queued', 'running', 'failed')
            GROUP BY queue
            """
        )
    ).all()
    return {
        r.queue: QueueCounts(r.queued, r.delayed, r.running, r.dead_letter, r.retrying)
        for r in rows
    }


def jobs_by_kind_and_status(*, session: Session) -> list[tuple[str, str, str, int, int]]:
    """(kind, queue, status, jobs, of which queued again after a failure) for the unfinished
    and failed jobs: the figures the metrics endpoint computes at scrape time."""
    rows = session.execute(
        text(
            """
            SELECT kind, queue, status::text AS status, count(*) AS n,
                   count(*) FILTER (WHERE status = 'queued' AND attempts > 0) AS retrying
            FROM jobs
            WHERE status IN ('queued', 'running', 'failed')
            GROUP BY kind, queue, status
            """
        )
    ).all()
    return [(r.kind, r.queue, r.status, r.n, r.retrying) for r in rows]


@dataclass(frozen=True)
class Bucket:
    minute: datetime
    succeeded: int
    failed: int
    cancelled: int

    @property
    def failure_rate(self) -> float | None:
        done = self.succeeded + self.failed
        return round(self.failed / done, 4) if done else None


def throughput(*, session: Session, window_s: int) -> list[Bucket]:
    """Jobs finished per minute over the last `window_s` seconds, empty minutes included."""
    rows = session.execute(
        text(
            """
            WITH minutes AS (
                SELECT generate_series(
                    date_trunc('minute', now() - make_interval(secs => :window)),
                    date_trunc('minute', now()), interval '1 minute') AS minute
            ), done AS (
                SELECT date_trunc('minute', finished_at) AS minute,
                       count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
                       count(*) FILTER (WHERE status = 'failed') AS failed,
                       count(*) FILTER (WHERE status = 'cancelled') AS cancelled
                FROM jobs
                WHERE finished_at IS NOT NULL
                  AND finished_at >= date_trunc('minute', now() - make_interval(secs => :window))
                GROUP BY 1
            )
            SELECT m.minute, coalesce(d.succeeded, 0) AS succeeded,
                   coalesce(d.failed, 0) AS failed, coalesce(d.cancelled, 0) AS cancelled
            FROM minutes m LEFT JOIN done d USING (minute)
            ORDER BY m.minute
            """
        ),
        {"window": window_s},
    ).all()
    return [Bucket(r.minute, r.succeeded, r.failed, r.cancelled) for r in rows]


@dataclass(frozen=True)
class KindLatency:
    """Seconds a kind's jobs waited for a worker and ran, over the window (p50 and p95)."""

    kind: str
    jobs: int
    wait_p50_s: float | None
    wait_p95_s: float | None
    run_p50_s: float | None
    run_p95_s: float | None


def latency(*, session: Session, window_s: int) -> list[KindLatency]:
    """Per kind, of the jobs that finished in the window after running: queue wait
    (started_at - max(run_after, created_at), so a scheduled job does not count its delay)
    and run time (finished_at - started_at) of their last attempt."""
    rows = session.execute(
        text(
            """
            WITH j AS (
                SELECT kind,
                       greatest(0, extract(epoch FROM
                           started_at - greatest(run_after, created_at))) AS wait_s,
                       greatest(0, extract(epoch FROM finished_at - started_at)) AS run_s
                FROM jobs
                WHERE finished_at IS NOT NULL
                  AND finished_at >= now() - make_interval(secs => :window)
                  AND started_at IS NOT NULL
            )
            SELECT kind, count(*) AS jobs,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_s) AS wait_p50,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY wait_s) AS wait_p95,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY run_s) AS run_p50,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY run_s) AS run_p95
            FROM j GROUP BY kind ORDER BY kind
            """
        ),
        {"window": window_s},
    ).all()
    return [
        KindLatency(r.kind, r.jobs, _s(r.wait_p50), _s(r.wait_p95), _s(r.run_p50), _s(r.run_p95))
        for r in rows
    ]


def _s(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


@dataclass(frozen=True)
class JobSearch:
    """An operator's job search; every field narrows it."""

    job_id: uuid.UUID | None = None
    kind: str | None = None
    queue: str | None = None
    statuses: tuple[JobStatus, ...] = ()
    org_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    worker_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def search_jobs(
    *, session: Session, search: JobSearch, cursor: str | None, limit: int
) -> tuple[list[Job], str | None]:
    """A page of every organisation's jobs (internal ones included), newest first."""
    conditions = [
        c
        for c in (
            Job.id == search.job_id if search.job_id else None,
            Job.kind == search.kind if search.kind else None,
            Job.queue == search.queue if search.queue else None,
            Job.status.in_(search.statuses) if search.statuses else None,
            Job.org_id == search.org_id if search.org_id else None,
            Job.owner_id == search.owner_id if search.owner_id else None,
            Job.worker_id == search.worker_id if search.worker_id else None,
            Job.created_at >= search.created_after if search.created_after else None,
            Job.created_at < search.created_before if search.created_before else None,
        )
        if c is not None
    ]
    query = select(Job).where(*conditions)
    return newest_first(
        session=session,
        query=query,
        created_at=Job.created_at,
        row_id=Job.id,
        cursor=cursor,
        limit=limit,
    )


def running_jobs_of(*, session: Session, worker_ids: list[str]) -> dict[str, list[Job]]:
    """The running jobs of each worker, by the worker id the claim wrote."""
    held: dict[str, list[Job]] = {w: [] for w in worker_ids}
    if not worker_ids:
        return held
    query = (
        select(Job)
        .where(Job.status == JobStatus.RUNNING, Job.worker_id.in_(worker_ids))
        .order_by(Job.started_at)
    )
    for job in session.scalars(query):
        held[job.worker_id or ""].append(job)
    return held
