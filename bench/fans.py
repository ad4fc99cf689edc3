"""Fans: a 100,000-row CSV import beside a plain COPY of the same file, and the fan list's
search on 1,000,000 fans of one artist.

    python -m bench.fans [--rows 100000] [--fans 1000000] [--searches 300]

The import runs what the `fans.import` job runs (read and check every row, de-duplicate,
COPY into a temporary table, one INSERT … ON CONFLICT into fans), in process; the baseline
is PostgreSQL's COPY of the same file into a table of text columns, in the same run and
database. The search times `list_fans` (first page of 50) for substrings taken from stored
names and addresses, beside the one LIKE query with ORDER BY … LIMIT left to the
planner. It uses the PostgreSQL of DATABASE_URL, in a database of its own.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from bench.throughput import bench_database, percentile
from config import load_settings
from models.accounts.users import create_user
from models.fans.fans import FanFilter, list_fans
from models.fans.imports import load_fans, read_rows
from models.orgs.organizations import primary_org_id
from workers.core.setup import connect

COLUMNS = "name,email,country,tags\n"
BENCH_PASSWORD = "bench password 123"  # noqa: S105 - a throwaway account, dropped after


def write_csv(path: Path, rows: int) -> None:
    countries = ["US", "GB", "FR", "NG", "BR", "JP", "DE", "SE"]
    with path.open("w") as f:
        f.write(COLUMNS)
        for n in range(rows):
            f.write(f"Fan {n},fan{n}@example.com,{countries[n % 8]},vip;early\n")


def bench_import(sessions: object, org_id: uuid.UUID, path: Path, rows: int) -> dict[str, float]:
    mapping = {"name": "name", "email": "email", "country": "country", "tags": "tags"}
    with sessions.begin() as session:  # type: ignore[attr-defined]
        session.execute(text("CREATE TABLE bare_copy (a text, b text, c text, d text)"))
        raw = session.connection().connection.dbapi_connection
        start = time.perf_counter()
        with (
            raw.cursor() as cursor,
            cursor.copy("COPY bare_copy FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
            path.open("rb") as f,
        ):
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        copy_s = time.perf_counter() - start
    start = time.perf_counter()
    with sessions.begin() as session, path.open("rb") as f:  # type: ignore[attr-defined]
        fans, _ = read_rows(f, mapping, lambda n: None)
        added = load_fans(session=session, org_id=org_id, rows=fans)
    import_s = time.perf_counter() - start
    assert added == rows, added
    return {"copy_rows_s": rows / copy_s, "import_rows_s": rows / import_s}


def fill(sessions: object, org_id: uuid.UUID, fans: int) -> None:
    with sessions.begin() as session:  # type: ignore[attr-defined]
        session.execute(
            text(
                "INSERT INTO fans (org_id, name, email, country, created_at)"
                " SELECT :org, initcap(substr(md5(i::text), 1, 6)) || ' '"
                " || initcap(substr(md5(i::text), 7, 8)),"
                " substr(md5((i * 7)::text), 1, 10) || i || '@example.com',"
                " 'US', now() - make_interval(secs => i)"
                " FROM generate_series(1, :n) AS i"
            ),
            {"org": org_id, "n": fans},
        )
    with sessions.begin() as session:  # type: ignore[attr-defined]
        session.execute(text("ANALYZE fans"))


def bench_search(sessions: object, org_id: uuid.UUID, searches: int) -> dict[str, float]:
    with sessions.begin() as session:  # type: ignore[attr-defined]
        samples = list(
            session.scalars(
                text("SELECT search_text FROM fans TABLESAMPLE SYSTEM (1) LIMIT :n"),
                {"n": searches},
            )
        )
    rng = random.Random(7)  # noqa: S311 - picks search terms, not secrets
    terms = []
    for sample in samples:
        size = rng.choice([3, 4, 5, 6, 8])
        start = rng.randrange(0, max(1, len(sample) - size))
        terms.append(sample[start : start + size].strip() or sample[:4])
    bare = text(
        "SELECT * FROM fans WHERE org_id = :org AND search_text LIKE :pattern"
        " ORDER BY created_at DESC, id DESC LIMIT 51"
    )
    times: list[float] = []
    bare_times: list[float] = []
    for term in terms:
        with sessions() as session:  # type: ignore[operator]
            start = time.perf_counter()
            list_fans(
                session=session,
                org_id=org_id,
                filters=FanFilter(search=term),
                cursor=None,
                limit=50,
            )
            times.append((time.perf_counter() - start) * 1000)
            pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            start = time.perf_counter()
            session.execute(bare, {"org": org_id, "pattern": pattern}).all()
            bare_times.append((time.perf_counter() - start) * 1000)
    return {
        "p50_ms": percentile(times, 50),
        "p99_ms": percentile(times, 99),
        "bare_p50_ms": percentile(bare_times, 50),
        "bare_p99_ms": percentile(bare_times, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--fans", type=int, default=1_000_000)
    parser.add_argument("--searches", type=int, default=300)
    args = parser.parse_args()
    base = load_settings()
    with bench_database(base.database_url) as url, tempfile.TemporaryDirectory() as tmp:
        platform = connect(base.replace(database_url=url))
        with platform.sessions.begin() as session:
            user = create_user(session=session, email="bench@example.com", password=BENCH_PASSWORD)
            org_id = primary_org_id(session=session, user_id=user.id)
            other = create_user(
                session=session, email="bench2@example.com", password=BENCH_PASSWORD
            )
            search_org = primary_org_id(session=session, user_id=other.id)
        assert org_id is not None and search_org is not None
        path = Path(tmp) / "fans.csv"
        write_csv(path, args.rows)
        imported = bench_import(platform.sessions, org_id, path, args.rows)
        print(
            f"import of {args.rows} rows: {imported['import_rows_s']:,.0f} rows/s; plain COPY of "
            f"the same file: {imported['copy_rows_s']:,.0f} rows/s "
            f"({imported['import_rows_s'] / imported['copy_rows_s']:.2f}x)"
        )
        start = time.perf_counter()
        fill(platform.sessions, search_org, args.fans)
        print(f"{args.fans} fans inserted in {time.perf_counter() - start:.0f} s")
        searched = bench_search(platform.sessions, search_org, args.searches)
        print(
            f"search on {args.fans} fans of one artist, first page of 50, {args.searches} "
            f"substrings: p50 {searched['p50_ms']:.1f} ms, p99 {searched['p99_ms']:.1f} ms; "
            f"the same query left to the planner: p50 {searched['bare_p50_ms']:.1f} ms, "
            f"p99 {searched['bare_p99_ms']:.1f} ms"
        )
        platform.engine.dispose()


if __name__ == "__main__":
    main()
