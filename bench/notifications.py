"""The daily notifications run for many organisations: the first run over a day of changes,
the same slot run again, and a bare copy of the rows it wrote as the baseline.

    python -m bench.notifications [--orgs 10000]

Of the organisations, 30 % have an imported report, 20 % a release approved, 10 % a
withdrawal paid and 10 % passed 100 fans (120 new fans each; another 20 % have 20 old fans),
all written by SQL beside the domains' code. The run is `write_notifications`, what the
`notifications.daily` job does, committed; the repeated run finds every notification already
written. The baseline is `CREATE TABLE … AS SELECT` of the rows the first run wrote: writing
them with nothing to read or check. It uses the PostgreSQL of DATABASE_URL, in a database of
its own.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from sqlalchemy import text

from bench.throughput import bench_database
from config import load_settings
from models.core.base import utcnow
from models.notifications import write_notifications
from workers.core.setup import connect

SETUP = [
    "INSERT INTO organizations (name) SELECT 'Artist ' || i FROM generate_series(1, :orgs) i",
    "CREATE TEMPORARY TABLE bench_orgs AS"
    " SELECT id, row_number() OVER (ORDER BY id) AS n FROM organizations",
    # 30 %: a report imported an hour ago.
    "INSERT INTO revenue_uploads (org_id, filename, storage_key, size_bytes, sha256, status,"
    " rows_imported, imported_at)"
    " SELECT id, 'report.tsv', 'k/' || n, 1000, md5(n::text) || md5(n::text), 'imported', 500,"
    " now() - interval '1 hour' FROM bench_orgs WHERE n % 10 < 3",
    # 20 %: a release approved two hours ago.
    "INSERT INTO releases (org_id, type, title, artist_name, status)"
    " SELECT id, 'single', 'Song ' || n, 'Artist ' || n, 'approved'"
    " FROM bench_orgs WHERE n % 10 IN (3, 4)",
    "INSERT INTO release_events (release_id, from_status, to_status, created_at)"
    " SELECT id, 'under_review', 'approved', now() - interval '2 hours' FROM releases",
    # 10 %: a withdrawal paid three hours ago.
    "INSERT INTO revenue_withdrawals (org_id, currency, amount, status, payout_method)"
    " SELECT id, 'USD', 25.5, 'paid', 'paypal: a@b.example' FROM bench_orgs WHERE n % 10 = 5",
    "INSERT INTO revenue_withdrawal_events (withdrawal_id, status, created_at)"
    " SELECT id, 'paid', now() - interval '3 hours' FROM revenue_withdrawals",
    # 10 %: 120 new fans (past 100); 20 %: 20 fans from a month ago.
    "INSERT INTO fans (org_id, email, created_at)"
    " SELECT id, 'f' || i || '@x.example', now() - interval '4 hours'"
    " FROM bench_orgs, generate_series(1, 120) i WHERE n % 10 = 6",
    "INSERT INTO fans (org_id, email, created_at)"
    " SELECT id, 'f' || i || '@x.example', now() - interval '30 days'"
    " FROM bench_orgs, generate_series(1, 20) i WHERE n % 10 IN (7, 8)",
    "ANALYZE",
]


def timed_run(sessions: Any) -> tuple[int, float]:
    start = time.perf_counter()
    with sessions.begin() as session:
        created, _ = write_notifications(session=session, slot=utcnow())
    return len(created), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=10_000)
    args = parser.parse_args()
    base = load_settings()
    with bench_database(base.database_url) as url:
        platform = connect(base.replace(database_url=url))
        start = time.perf_counter()
        with platform.sessions.begin() as session:
            for statement in SETUP:
                session.execute(text(statement), {"orgs": args.orgs})
        setup_s = time.perf_counter() - start
        print(f"{args.orgs} organisations and their changes written in {setup_s:.1f} s")
        created, first_s = timed_run(platform.sessions)
        again, again_s = timed_run(platform.sessions)
        with platform.sessions.begin() as session:
            start = time.perf_counter()
            session.execute(text("CREATE TABLE bare_copy AS SELECT * FROM notifications"))
            bare_s = time.perf_counter() - start
        platform.engine.dispose()
    print(
        f"daily run for {args.orgs} organisations: {created} notifications in {first_s:.2f} s; "
        f"the same slot again: {again} new in {again_s:.2f} s; "
        f"a bare copy of the {created} rows: {bare_s:.2f} s ({first_s / bare_s:.0f}x)"
    )


if __name__ == "__main__":
    main()
