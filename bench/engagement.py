"""Engagement: the metrics dashboard over a year of minute-level points for 20 metrics
(10,512,000 points), uncached and cached, beside baselines in the same run.

    python -m bench.engagement [--days 365] [--metrics 20] [--requests 200]

The points are generated in PostgreSQL (generate_series), with the hourly rollups of the
same generator and the daily ones summed from the hours, as `record_points` keeps them a
batch at a time; a batch then goes through `record_points`, and that day's hourly rollups
are checked against its points.
Each dashboard is a GET /api/v1/metrics/dashboard through the whole app (authentication,
the data version, Redis, JSON), in process. Uncached: every request asks for another range
(a year by day, shifted a day each time), so none is answered from the cache; cached: the
same request again. Baselines: a bare SELECT of the rollup rows it reads, a Redis GET of
the cached answer, and — a few times, for what the rollups save — the same year summed by
day from the raw points. It uses the PostgreSQL and Redis of DATABASE_URL / REDIS_URL, in a
database and a Redis namespace of its own.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import redis
from sqlalchemy import text

from bench.throughput import bench_database, percentile
from config import load_settings
from models import engagement
from models.accounts.users import create_user, start_session
from models.orgs.organizations import primary_org_id
from web import create_app
from web.core.tokens import issue_access_token
from workers.core.setup import Platform, connect

BENCH_PASSWORD = "bench password 123"  # noqa: S105 - a throwaway account, dropped after
END = datetime(2026, 12, 1, tzinfo=UTC)
NAMES = ["views", "likes", "comments", "shares"] + [f"metric_{n:02d}" for n in range(4, 40)]

_FILL = """
INSERT INTO engagement_points (org_id, metric, platform, value, recorded_at)
SELECT :org, m.name, 'tiktok', (i % 97) + m.n, :start + make_interval(mins => i)
FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS i,
     unnest(CAST(:names AS text[])) WITH ORDINALITY AS m(name, n)
"""
# Each slice's hourly rollups, from the same generator as its points (reading the points
# back would cost a second pass over them); check_write_path compares a day of them with the
# points.
_HOURS = """
INSERT INTO engagement_rollups
SELECT :org, 'hour', :start + make_interval(hours => i / 60), m.name, 'tiktok', count(*),
       sum((i % 97) + m.n), min((i % 97) + m.n), max((i % 97) + m.n),
       :start + make_interval(mins => max(i)), (max(i) % 97) + m.n
FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS i,
     unnest(CAST(:names AS text[])) WITH ORDINALITY AS m(name, n)
GROUP BY i / 60, m.name, m.n
"""
_DAYS = """
INSERT INTO engagement_rollups
SELECT org_id, 'day', date_trunc('day', bucket, 'UTC'), metric, platform, sum(count), sum(sum),
       min(min), max(max), max(last_at), (array_agg(last_value ORDER BY last_at DESC))[1]
FROM engagement_rollups WHERE org_id = :org AND grain = 'hour'
GROUP BY org_id, 3, metric, platform
"""
_RAW_BY_DAY = """
SELECT metric, date_trunc('day', recorded_at, 'UTC') AS day, sum(value), count(*), min(value),
       max(value)
FROM engagement_points WHERE org_id = :org AND recorded_at >= :since AND recorded_at < :until
GROUP BY 1, 2
"""
_SAME_ROWS = """
SELECT * FROM engagement_rollups
WHERE org_id = :org AND grain = 'day' AND bucket >= :since AND bucket < :until
"""


# The day's hours recomputed from its points, against the rollups kept.
_RAW_HOURS = """
SELECT metric, date_trunc('hour', recorded_at, 'UTC'), count(*), sum(value), min(value),
       max(value), (array_agg(value ORDER BY recorded_at DESC, id DESC))[1]
FROM engagement_points
WHERE org_id = :org AND recorded_at >= :day AND recorded_at < :next
GROUP BY 1, 2
"""
_ROLLED_HOURS = """
SELECT metric, bucket, count, sum, min, max, last_value FROM engagement_rollups
WHERE org_id = :org AND grain = 'hour' AND bucket >= :day AND bucket < :next
"""


def fill(platform: Platform, org_id: uuid.UUID, days: int, metrics: int) -> int:
    """The points and their hourly rollups, a slice of whole hours per transaction, two at
    once; then the daily rollups from the hours."""
    hours, names = days * 24, NAMES[:metrics]
    start = END - timedelta(days=days)
    slices = 8

    def one(n: int) -> None:
        first, last = n * hours // slices * 60, (n + 1) * hours // slices * 60 - 1
        params = {"org": org_id, "start": start, "first": first, "last": last, "names": names}
        with platform.sessions.begin() as session:
            session.execute(text("SET LOCAL synchronous_commit = off"))
            session.execute(text(_FILL), params)
            session.execute(text(_HOURS), params)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, range(slices)))
    with platform.sessions.begin() as session:
        session.execute(text(_DAYS), {"org": org_id})
        session.execute(text("INSERT INTO engagement_versions VALUES (:org, 1)"), {"org": org_id})
    with platform.sessions.begin() as session:
        session.execute(text("ANALYZE engagement_points"))
        session.execute(text("ANALYZE engagement_rollups"))
    return hours * 60 * metrics


def check_write_path(platform: Platform, org_id: uuid.UUID) -> float:
    """A batch of 1,000 points through record_points (ms); that day's hourly rollups still
    match its points."""
    at = END - timedelta(hours=3)
    batch = [
        engagement.NewPoint(NAMES[n % 4], Decimal(n), "tiktok", at + timedelta(seconds=n))
        for n in range(engagement.MAX_BATCH)
    ]
    with platform.sessions.begin() as session:
        started = time.perf_counter()
        engagement.record_points(session, org_id, batch)
        took = (time.perf_counter() - started) * 1000
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    window = {"org": org_id, "day": day, "next": day + timedelta(days=1)}
    with platform.sessions() as session:
        raw = set(session.execute(text(_RAW_HOURS), window))
        rolled = set(session.execute(text(_ROLLED_HOURS), window))
    assert raw == rolled and len(raw) >= 24, (len(raw), len(rolled), raw ^ rolled)
    return took


def timed(calls: int, one: Callable[[int], Any]) -> list[float]:
    times = []
    for n in range(calls):
        started = time.perf_counter()
        one(n)
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> str:
    return f"p50 {percentile(times, 50):.1f} ms, p99 {percentile(times, 99):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    base = load_settings()
    namespace = f"bench-engagement-{uuid.uuid4().hex[:8]}"
    with bench_database(base.database_url) as url:
        settings = base.replace(
            database_url=url,
            broker_namespace=namespace,
            rate_limit_key_prefix=namespace,
            rate_limits_enabled=False,
            log_level="WARNING",
        )
        platform = connect(settings)
        with platform.sessions.begin() as session:
            user = create_user(session=session, email="bench@example.com", password=BENCH_PASSWORD)
            org_id = primary_org_id(session=session, user_id=user.id)
            login, _ = start_session(session=session, user=user, ttl_s=3600)
        assert org_id is not None
        headers = {"Authorization": f"Bearer {issue_access_token(settings, user.id, login.id)}"}

        started = time.perf_counter()
        points = fill(platform, org_id, args.days, args.metrics)
        print(
            f"{points:,} points and their rollups written in {time.perf_counter() - started:.0f} s"
        )
        batch_ms = check_write_path(platform, org_id)
        print(f"a batch of {engagement.MAX_BATCH} points through record_points: {batch_ms:.0f} ms")

        client = create_app(platform=platform).test_client()
        year = timedelta(days=min(args.days, 365))

        def ask(until: datetime, grain: str = "day", span: timedelta = year) -> str:
            query = {
                "grain": grain,
                "since": (until - span).isoformat(),
                "until": until.isoformat(),
            }
            answer = client.get("/api/v1/metrics/dashboard", query_string=query, headers=headers)
            assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
            return answer.headers["X-Cache"]

        def uncached(n: int) -> None:
            assert ask(END - timedelta(days=n % 300 + 1)) == "miss"

        def cached(n: int) -> None:
            assert ask(END) == "hit"

        def week_by_hour(n: int) -> None:
            assert ask(END - timedelta(hours=n), "hour", timedelta(days=7)) == "miss"

        with platform.sessions() as session:
            store = redis.Redis.from_url(settings.redis_url)
            ask(END)  # the one the cached requests ask
            key = next(store.scan_iter(f"{namespace}:engagement:dashboard:*"))
            body_kb = len(cast(bytes, store.get(key))) / 1024

            def bare_rollups(n: int) -> None:
                until = END - timedelta(days=n % 300 + 1)
                params = {"org": org_id, "since": until - 2 * year, "until": until}
                session.execute(text(_SAME_ROWS), params).all()

            results = {
                "uncached": timed(args.requests, uncached),
                "cached": timed(args.requests, cached),
                "hour": timed(args.requests, week_by_hour),
                "bare": timed(args.requests, bare_rollups),
                "redis": timed(args.requests, lambda n: store.get(key)),
                "raw": timed(
                    3,
                    lambda n: session.execute(
                        text(_RAW_BY_DAY), {"org": org_id, "since": END - year, "until": END}
                    ).all(),
                ),
            }
            for key_ in store.scan_iter(f"{namespace}*"):
                store.delete(key_)
        n = args.requests
        print(
            f"dashboard, a year by day ({args.metrics} metrics, {body_kb:.0f} KB of JSON), "  # noqa: S608 - a report, not SQL
            f"{n} requests each:\n"
            f"  uncached: {summary(results['uncached'])}\n"
            f"  cached:   {summary(results['cached'])}\n"
            f"  a week by hour, uncached: {summary(results['hour'])}\n"
            f"baselines in the same run:\n"
            f"  a bare SELECT of the same rollup rows (the year and the one before): "
            f"{summary(results['bare'])}\n"
            f"  a Redis GET of the cached answer: {summary(results['redis'])}\n"
            f"  the year summed by day from the raw points (3 runs): "
            f"p50 {percentile(results['raw'], 50):.0f} ms"
        )
        platform.engine.dispose()


if __name__ == "__main__":
    main()
