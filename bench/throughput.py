"""`make bench`: Backline's throughput and latency, next to raw Dramatiq on the same broker.

1. raw Dramatiq: N messages to a no-op actor, drained by the same worker processes/threads;
2. tracked: N `system.noop` jobs submitted (rows committed, then enqueued) and run through
   the job core: every state change durable in PostgreSQL;
   1 and 2 alternate for --rounds rounds, and the ratio is the median round's;
3. submit→succeeded latency through the whole stack (HTTP POST, then GET ?wait until done),
   one job at a time, and again after the workers sat idle for 2 s; then the same with one
   request (POST with `Prefer: wait=5`);
4. GET /api/v1/jobs/<id> under load (wrk, when installed);
5. the machine's own price of idleness, with no Backline code: a round trip to PostgreSQL and
   a committed INSERT, back to back and after 2 s of quiet.

It uses the PostgreSQL and Redis of DATABASE_URL / REDIS_URL (default: local), in a database
and a Redis namespace of its own that it removes at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from config import load_settings
from models.accounts.users import create_user, start_session
from models.core.jobs import Job, JobStatus
from models.orgs.organizations import primary_org_id
from tests.smtp import free_port
from web.core.tokens import issue_access_token
from workers.core import enqueue
from workers.core.registry import get_kind
from workers.core.setup import connect

ROOT = Path(__file__).resolve().parent.parent
BENCH_PASSWORD = "bench password 123"  # noqa: S105 - a throwaway account in a throwaway database
BIN = Path(sys.executable).parent


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


@contextmanager
def bench_database(base_url: str, root: Path = ROOT) -> Iterator[str]:
    """A database of its own, migrated by the checkout at `root`, dropped at the end."""
    name = f"backline_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(base_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    try:
        subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=root,
            check=True,
            env={**os.environ, "DATABASE_URL": url},
            capture_output=True,
        )
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_env(database_url: str, redis_url: str, namespace: str, **extra: str) -> dict[str, str]:
    """The environment of a bench's processes: its own database and Redis namespace (limits
    counted under it too), quiet logs, and the rate limits off: a bench calls far above
    RATE_LIMIT_PER_USER, and measures the API, not its 429s."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "BROKER_NAMESPACE": namespace,
        "RATE_LIMIT_KEY_PREFIX": namespace,
        "LOG_LEVEL": "WARNING",
        "RATE_LIMITS_ENABLED": "false",
        **extra,
    }


@contextmanager
def process(
    args: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


# The share of the messages drained before the clock starts: worker processes boot one after
# the other, and the rate while only some are up says nothing about the steady state.
WARM_UP_SHARE = 0.25


def drain_rate(broker: RedisBroker, queue: str, n: int) -> float:
    """Messages per second `queue` drains at, once the first quarter of them is gone."""
    counted = n - int(n * WARM_UP_SHARE)
    while broker.do_qsize(queue) > counted:
        time.sleep(0.001)
    start = time.perf_counter()
    while broker.do_qsize(queue):
        time.sleep(0.005)
    return counted / (time.perf_counter() - start)


def raw_dramatiq(env: dict[str, str], n: int, log: Path) -> float:
    """Messages per second a no-op actor drains (messages enqueued before workers start)."""
    broker = RedisBroker(url=env["REDIS_URL"], namespace=env["BENCH_NAMESPACE"])
    for _ in range(n):
        broker.enqueue(
            Message(queue_name="bench", actor_name="noop", args=(), kwargs={}, options={})
        )
    args = [
        sys.executable,
        "-m",
        "dramatiq",
        "bench.raw_actor",
        "--processes",
        env["WORKER_PROCESSES"],
        "--threads",
        env["WORKER_THREADS"],
        "--queues",
        "bench",
    ]
    # Dramatiq's own idle poll, as tuned in the issue's measurements (10 ms).
    with process(args, {**env, "dramatiq_worker_timeout": "10"}, log):
        rate = drain_rate(broker, "bench", n)
    broker.close()
    return rate


def tracked(env: dict[str, str], n: int, log: Path, round_no: int = 0) -> tuple[float, float]:
    """Jobs per second through the job core (submitted before workers start); submit rate."""
    settings = load_settings(env)
    platform = connect(settings)
    kind = get_kind("system.noop")
    assert kind is not None
    with platform.sessions.begin() as session:
        owner = create_user(
            session=session,
            email=f"bench{round_no}@example.com",
            password=BENCH_PASSWORD,
            is_admin=True,
        ).id
        org_id = primary_org_id(session=session, user_id=owner)
        assert org_id is not None
    start = time.perf_counter()
    for first in range(0, n, 500):
        with platform.sessions() as session:
            enqueue.submit_many(
                session=session,
                dispatcher=platform.dispatcher,
                owner_id=owner,
                org_id=org_id,
                submissions=[enqueue.Submission.checked(kind, {})] * min(500, n - first),
            )
            session.commit()
    submit_rate = n / (time.perf_counter() - start)
    broker = platform.broker
    with process([sys.executable, "-m", "workers"], env, log):
        rate = drain_rate(broker, "system", n)  # type: ignore[arg-type]
        with platform.sessions() as session:
            while (
                session.scalar(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.owner_id == owner, Job.status == JobStatus.SUCCEEDED)
                )
                < n
            ):
                time.sleep(0.05)
                session.rollback()
    platform.engine.dispose()
    return rate, submit_rate


class Client:
    """A lean HTTP/1.1 client on one kept-alive connection, for the latency figures.

    The standard library's: it costs the measured round trip about half a millisecond less
    per request than httpx did on the machine of the README's figures, time spent in the
    client rather than in Backline.
    """

    def __init__(self, port: str, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = {**headers, "Accept": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)

    def reset(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", int(self.port), timeout=30)

    def get(self, path: str) -> Any:
        return self._send("GET", path, None, {})

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        return self._send("POST", path, json.dumps(body).encode(), headers or {})

    def _send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Any:
        extra = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(method, path, body, {**self.headers, **extra, **headers})
        response = self.conn.getresponse()
        data = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
        return json.loads(data)


def bench_user(env: dict[str, str]) -> tuple[uuid.UUID, dict[str, str]]:
    """An admin of the bench database, and the Authorization header of a session of theirs."""
    settings = load_settings(env)
    platform = connect(settings)
    with platform.sessions.begin() as session:
        admin = create_user(
            session=session, email="latency@example.com", password=BENCH_PASSWORD, is_admin=True
        )
        auth_session, _ = start_session(
            session=session, user=admin, ttl_s=settings.refresh_token_ttl_s
        )
    token = issue_access_token(settings, admin.id, auth_session.id)
    platform.engine.dispose()
    return admin.id, {"Authorization": f"Bearer {token}"}


def api_command(port: str, control_socket: Path, app: str = "web:create_app()") -> list[str]:
    """The API as it is run everywhere (config/server.py's settings), on `port`."""
    return [
        str(BIN / "gunicorn"),
        "-c",
        "python:config.server",
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--control-socket",
        str(control_socket),
    ]


def wait_until_up(client: Client) -> None:
    for _ in range(100):
        try:
            client.get("/api/openapi.json")
            return
        except OSError:
            client.reset()
            time.sleep(0.2)


def submit_and_poll(client: Client) -> tuple[float, str]:
    """Milliseconds from a POST to the job seen succeeded, polling with GET ?wait; its id."""
    t0 = time.perf_counter()
    job = client.post("/api/v1/jobs", {"kind": "system.noop", "params": {}})
    while job["status"] != "succeeded":
        job = client.get(f"/api/v1/jobs/{job['id']}?wait=5")
    return (time.perf_counter() - t0) * 1000, job["id"]


def submit_and_wait(client: Client) -> tuple[float, str]:
    """The same, in one request: the POST answers once the job finished (RFC 7240)."""
    t0 = time.perf_counter()
    job = client.post("/api/v1/jobs", {"kind": "system.noop", "params": {}}, {"Prefer": "wait=5"})
    while job["status"] != "succeeded":
        job = client.get(f"/api/v1/jobs/{job['id']}?wait=5")
    return (time.perf_counter() - t0) * 1000, job["id"]


def latency(
    env: dict[str, str], samples: int, idle_samples: int, log: Path, wrk_seconds: int
) -> dict[str, float]:
    owner_id, headers = bench_user(env)
    port = env["PORT"]
    api = api_command(port, ROOT / "var" / "bench-gunicorn.ctl")
    figures: dict[str, float] = {}
    with process(api, env, log), process([sys.executable, "-m", "workers"], env, log):
        client = Client(port, headers)
        wait_until_up(client)

        def one() -> tuple[float, str]:
            return submit_and_poll(client)

        def one_request() -> tuple[float, str]:
            return submit_and_wait(client)

        # The two flows take turns, so that both meet the same moods of a shared machine.
        flows = {"": one, "prefer_": one_request}
        busy: dict[str, list[float]] = {key: [] for key in flows}
        idle: dict[str, list[float]] = {key: [] for key in flows}
        for _ in range(20):
            for flow in flows.values():
                flow()  # warm up
        for _ in range(samples):
            for key, flow in flows.items():
                busy[key].append(flow()[0])
        for _ in range(idle_samples):
            for key, flow in flows.items():
                time.sleep(2)
                idle[key].append(flow()[0])
        for key in flows:
            figures.update(
                {
                    f"{key}p50_ms": statistics.median(busy[key]),
                    f"{key}p99_ms": percentile(busy[key], 99),
                    f"{key}idle_p50_ms": statistics.median(idle[key]),
                    f"{key}idle_p99_ms": percentile(idle[key], 99),
                }
            )
        platform = connect(load_settings(env))
        with platform.sessions() as session:
            lags = [
                (j.finished_at - j.created_at).total_seconds() * 1000
                for j in session.scalars(select(Job).where(Job.owner_id == owner_id))
            ]
        platform.engine.dispose()
        figures["server_p50_ms"] = statistics.median(lags)
        figures["server_p99_ms"] = percentile(lags, 99)
        if shutil.which("wrk") and wrk_seconds:
            _, job_id = one()
            figures.update(wrk_get(port, job_id, headers, wrk_seconds))
    return figures


def wake_up_costs(database_url: str, idle_samples: int) -> dict[str, float]:
    """The machine's own price of idleness: a plain round trip to PostgreSQL (SELECT 1) and a
    committed one-row INSERT, p50 in ms, back to back and after 2 s of quiet.

    After idleness every process a request passes through has to be woken up again; this is
    that cost for one hop, with no Backline code involved.
    """
    url = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    figures: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE wake_probe (id bigserial PRIMARY KEY)")
        statements = {"round_trip": "SELECT 1", "commit": "INSERT INTO wake_probe DEFAULT VALUES"}

        def timed(sql: str) -> float:
            start = time.perf_counter()
            conn.execute(sql)
            return (time.perf_counter() - start) * 1000

        for name, sql in statements.items():
            figures[f"{name}_busy_ms"] = statistics.median(timed(sql) for _ in range(200))
            idle = []
            for _ in range(idle_samples):
                time.sleep(2)
                idle.append(timed(sql))
            figures[f"{name}_idle_ms"] = statistics.median(idle)
        conn.execute("DROP TABLE wake_probe")
    return figures


def wrk_get(port: str, job_id: str, headers: dict[str, str], seconds: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c32",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Authorization: {headers['Authorization']}",
            f"http://127.0.0.1:{port}/api/v1/jobs/{job_id}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {"get_rps": rps, "get_p99_ms": float(p99.group(1)) * scale[p99.group(2)]}  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--idle-samples", type=int, default=10)
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="raw and tracked drains, alternated; the ratio is the median of the rounds' "
        "(a shared VM's speed drifts within minutes)",
    )
    args = parser.parse_args()
    base = load_settings()
    log = ROOT / "var" / "bench.log"
    log.parent.mkdir(exist_ok=True)
    with bench_database(base.database_url) as url:
        namespace = f"bench-{uuid.uuid4().hex[:8]}"
        env = bench_env(
            url,
            base.redis_url,
            namespace,
            BENCH_NAMESPACE=namespace,
            BENCH_REDIS_URL=base.redis_url,
            WORKER_PROCESSES=str(base.worker_processes),
            WORKER_THREADS=str(base.worker_threads),
            dramatiq_worker_timeout=str(base.worker_idle_poll_ms),
            PORT=str(free_port()),
        )
        rounds = []
        for round_no in range(args.rounds):
            raw = raw_dramatiq(env, args.jobs, log)
            ours, submit_rate = tracked(env, args.jobs, log, round_no)
            rounds.append((raw, ours, submit_rate))
            print(
                f"round {round_no + 1}: raw {raw:.0f} msg/s, tracked {ours:.0f} jobs/s, "
                f"ratio {ours / raw:.2f}",
                flush=True,
            )
        raw, ours, submit_rate = sorted(rounds, key=lambda r: r[1] / r[0])[len(rounds) // 2]
        lat = latency(env, args.samples, args.idle_samples, log, args.wrk_seconds)
        wake = wake_up_costs(url, max(3, args.idle_samples // 4))
    print(
        f"workers: {base.worker_processes} processes x {base.worker_threads} threads, "
        f"{args.jobs} jobs, {os.cpu_count()} cores"
    )
    print(f"raw Dramatiq no-op          {raw:8.0f} msg/s")
    print(
        f"Backline tracked no-op      {ours:8.0f} jobs/s   ratio {ours / raw:.2f} of raw"
        f" (median of {args.rounds} rounds; raw and tracked above are that round's)"
    )
    print(f"  (submitting rows+messages {submit_rate:8.0f} jobs/s)")
    print(
        f"submit->succeeded over HTTP p50 {lat['p50_ms']:.1f} ms  p99 {lat['p99_ms']:.1f} ms  "
        f"(created->finished in the database p50 {lat['server_p50_ms']:.1f} ms, "
        f"p99 {lat['server_p99_ms']:.1f} ms)"
    )
    print(
        f"  after 2 s idle            p50 {lat['idle_p50_ms']:.1f} ms  "
        f"p99 {lat['idle_p99_ms']:.1f} ms"
    )
    print(
        f"  in one request (POST with Prefer: wait=5) p50 {lat['prefer_p50_ms']:.1f} ms  "
        f"p99 {lat['prefer_p99_ms']:.1f} ms; after 2 s idle p50 "
        f"{lat['prefer_idle_p50_ms']:.1f} ms  p99 {lat['prefer_idle_p99_ms']:.1f} ms"
    )
    print(
        f"machine, no Backline code: a PostgreSQL round trip p50 {wake['round_trip_busy_ms']:.2f}"
        f" ms, after 2 s idle {wake['round_trip_idle_ms']:.2f} ms; a committed INSERT "
        f"{wake['commit_busy_ms']:.2f} ms, after 2 s idle {wake['commit_idle_ms']:.2f} ms"
    )
    if "get_rps" in lat:
        print(
            f"GET /api/v1/jobs/<id>       {lat['get_rps']:8.0f} req/s  "
            f"p99 {lat['get_p99_ms']:.1f} ms "
            f"(wrk, 32 connections)"
        )
    elif args.wrk_seconds:
        print("GET load: wrk not installed (apt-get install wrk)")


if __name__ == "__main__":
    main()
