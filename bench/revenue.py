"""`python -m bench.revenue`: the revenue import and the wallet, each beside its bare limit.

1. import: a generated DistroKid report of --rows rows (1,000,000 by default) imported by the
   `revenue.import` job's own code (streamed from storage, parsed, COPY'd in batches, rolled
   up, in one transaction), in a process of its own whose peak RSS is reported; beside it, in
   the same run, a plain COPY of the very same rows (already in the table's text form) into
   the same table: the physical limit;
2. wallet: the summary (all time, and 90 days) of one artist with --wallet-rows earnings rows
   (5,000,000 by default, inserted by SQL and rolled up as an import would), p50/p99 over
   --calls calls; beside it, a bare `SELECT 1` round trip.

It uses the PostgreSQL of DATABASE_URL (default: local), in a database of its own that it
drops at the end, and a temporary storage directory.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from bench.throughput import bench_database, percentile
from config import Settings, load_settings
from models.accounts.users import create_user
from models.orgs.organizations import primary_org_id
from models.revenue.ledger import finish_import
from models.revenue.tables import Upload, UploadStatus
from models.revenue.wallet import summary
from tests.revenue_reports import Report
from workers.core.storage import storage
from workers.revenue import import_report
from workers.revenue.parsing import Row, read_rows


@dataclass
class BenchContext:
    """What `revenue.import` asks of its context, without a worker around it."""

    settings: Settings
    sessions: sessionmaker[Session]
    job_id: str

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        pass

    def check_cancelled(self) -> None:
        pass


def _artist(factory: sessionmaker[Session]) -> uuid.UUID:
    with factory.begin() as session:
        user = create_user(
            session=session,
            email=f"{uuid.uuid4().hex[:8]}@bench.example",
            password="bench password 123",  # noqa: S106 - a throwaway database
        )
        session.flush()
        org_id = primary_org_id(session=session, user_id=user.id)
        assert org_id is not None
        return org_id


def _upload(factory: sessionmaker[Session], org_id: uuid.UUID, key: str) -> Upload:
    with factory.begin() as session:
        upload = Upload(
            id=uuid.uuid4(),
            org_id=org_id,
            filename="bench.tsv",
            storage_key=key,
            size_bytes=0,
            sha256=uuid.uuid4().hex,
            status=UploadStatus.QUEUED,
            job_id=uuid.uuid4(),
        )
        session.add(upload)
    return upload


def _import_child(settings: Settings, upload_id: str, job_id: str, out: Any) -> None:
    engine = create_engine(settings.database_url)
    ctx = BenchContext(settings, sessionmaker(engine, expire_on_commit=False), job_id)
    started = time.perf_counter()
    result = import_report(ctx, {"upload_id": upload_id})  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put((elapsed, rss_mb, result))


def _copy_text(report: Path, target: Path, upload_id: uuid.UUID, org_id: uuid.UUID) -> int:
    """The report's rows in COPY's text form, as the import would write them."""

    def esc(value: object) -> str:
        return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    n = 0
    with report.open("rb") as raw, target.open("w", encoding="utf-8") as out:
        _, rows = read_rows(raw)
        for row in rows:
            assert isinstance(row, Row)
            values = (upload_id, row.row_number, org_id, row.sale_month, row.store, row.country,
                      row.isrc, row.upc, row.artist, row.title, row.quantity, row.amount,
                      row.currency)  # fmt: skip
            out.write("\t".join(esc(v) for v in values) + "\n")
            n += 1
    return n


def _plain_copy(factory: sessionmaker[Session], rows_file: Path, upload_id: uuid.UUID) -> float:
    """Seconds a bare COPY of the rows takes (rolled back after)."""
    with factory() as session:
        raw: Any = session.connection().connection.driver_connection
        started = time.perf_counter()
        with (
            raw.cursor() as cursor,
            cursor.copy("COPY revenue_earnings FROM STDIN") as copy,
            rows_file.open("rb") as source,
        ):
            while block := source.read(1024 * 1024):
                copy.write(block)
        elapsed = time.perf_counter() - started
        session.rollback()
    return elapsed


def bench_import(
    settings: Settings, factory: sessionmaker[Session], n_rows: int, rounds: int
) -> None:
    org_id = _artist(factory)
    with tempfile.TemporaryDirectory() as scratch:
        settings = settings.replace(storage_url=scratch)
        report_path = Path(scratch) / "report.tsv"
        with report_path.open("wb") as out:
            Report("distrokid", rows=n_rows, seed=11, tracks=5000).write(out)
        size_mb = report_path.stat().st_size / 1e6
        with report_path.open("rb") as source:
            storage(settings).put("revenue/bench/report", source)
        baseline_upload = _upload(factory, org_id, "revenue/bench/report")
        rows_file = Path(scratch) / "rows.copy"
        _copy_text(report_path, rows_file, baseline_upload.id, org_id)
        upload = _upload(factory, org_id, "revenue/bench/report")
        for round_no in range(rounds):  # the COPY first, then the import
            copy_s = _plain_copy(factory, rows_file, baseline_upload.id)
            out: Any = multiprocessing.get_context("spawn").Queue()
            child = multiprocessing.get_context("spawn").Process(
                target=_import_child, args=(settings, str(upload.id), str(upload.job_id), out)
            )
            child.start()
            import_s, rss_mb, result = out.get()
            child.join()
            print(
                f"round {round_no + 1}: {n_rows} rows ({size_mb:.0f} MB): plain COPY "
                f"{n_rows / copy_s:,.0f} rows/s; import {n_rows / import_s:,.0f} rows/s "
                f"({import_s / copy_s:.2f}x the COPY's time, "
                f"{copy_s / import_s:.2f}x its rate); import peak RSS {rss_mb:.0f} MB; "
                f"{result['rows_imported']} imported, {result['rows_rejected']} rejected"
            )
            with factory.begin() as session:  # undo, for the next round
                session.execute(text("DELETE FROM revenue_earnings"))
                session.execute(text("DELETE FROM revenue_rollups"))
                session.execute(text("DELETE FROM revenue_balances"))
                session.execute(
                    text("UPDATE revenue_uploads SET status = 'queued' WHERE id = :id"),
                    {"id": upload.id},
                )


_FILL = text(
    """
    INSERT INTO revenue_earnings (upload_id, row_number, org_id, sale_month, store, country,
                                  isrc, upc, artist, title, quantity, amount, currency)
    SELECT :upload_id, n, :org_id,
           make_date(2018 + (n % 8), 1 + (n % 12), 1),
           'Store ' || (n % 40), chr(65 + n % 26) || chr(65 + (n / 26) % 26),
           'QZ' || lpad((n % 20000)::text, 10, '0'), '', 'Artist', 'Track ' || (n % 20000),
           1 + n % 100, (n % 1000003) / 1000000000.0, CASE WHEN n % 10 = 0 THEN 'EUR' ELSE 'USD' END
      FROM generate_series(1, :rows) AS n
    """
)


def bench_wallet(factory: sessionmaker[Session], n_rows: int, calls: int) -> None:
    org_id = _artist(factory)
    upload = _upload(factory, org_id, "revenue/bench/none")
    started = time.perf_counter()
    with factory.begin() as session:
        session.execute(_FILL, {"upload_id": upload.id, "org_id": org_id, "rows": n_rows})
        fresh = session.get_one(Upload, upload.id)
        finish_import(session, fresh, format_name="bench", imported=n_rows, rejected=0)
    with factory() as session:
        keys = session.execute(text("SELECT count(*) FROM revenue_rollups")).scalar_one()
        session.execute(text("ANALYZE revenue_rollups"))
        session.commit()
    took = time.perf_counter() - started
    print(f"wallet: {n_rows} earnings rows ({keys} rollup keys) in {took:.0f} s")
    for label, days in (("all time", None), ("90 days", 90)):
        timings, bare = [], []
        with factory() as session:
            for _ in range(calls):
                t0 = time.perf_counter()
                session.execute(text("SELECT 1")).scalar_one()
                bare.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                summary(session=session, org_id=org_id, days=days)
                timings.append((time.perf_counter() - t0) * 1000)
                session.rollback()
        print(
            f"wallet summary ({label}): p50 {percentile(timings, 50):.1f} ms, "
            f"p99 {percentile(timings, 99):.1f} ms; bare SELECT 1 p50 "
            f"{percentile(bare, 50):.2f} ms, p99 {percentile(bare, 99):.2f} ms"
        )


@contextmanager
def _database(settings: Settings) -> Any:
    with bench_database(settings.database_url) as url:
        engine = create_engine(url)
        yield settings.replace(database_url=url), sessionmaker(engine, expire_on_commit=False)
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--wallet-rows", type=int, default=5_000_000)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", choices=("import", "wallet"))
    args = parser.parse_args()
    with _database(load_settings()) as (settings, factory):
        if args.only != "wallet":
            bench_import(settings, factory, args.rows, args.rounds)
        if args.only != "import":
            bench_wallet(factory, args.wallet_rows, args.calls)


if __name__ == "__main__":
    main()
