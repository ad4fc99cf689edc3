"""`python -m bench.serving`: the API under load, beside a bare baseline, in one run.

1. GET /api/v1/jobs/<id> under wrk (32 connections), against a bare Flask app doing one
   primary-key SELECT of the same row (bench/bare_app.py), both on the server settings of
   config/server.py; the two alternate for --rounds rounds and the medians are compared.
2. GET /api/v1/auth/me under wrk on one API process, alone and then while --waiters clients
   wait on it (half long-polls, half event streams, 20 per user: the default cap), in the
   same run.
3. How long a change takes to reach an event stream's client: a job's cancel is committed
   (as the API or a worker commits a change) and the clock runs until the client has read
   the event.

It uses the PostgreSQL and Redis of DATABASE_URL / REDIS_URL (default: local), in a database
and a Redis namespace of its own, removed at the end. Needs wrk (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from sqlalchemy import select

from bench.throughput import ROOT, api_command, bench_database, bench_env, percentile, process
from config import load_settings
from models.accounts.users import create_user, start_session
from models.core.jobs import Job, request_cancel
from models.orgs.organizations import primary_org_id
from tests.smtp import free_port
from web.core.tokens import issue_access_token
from workers.core import enqueue
from workers.core.registry import get_kind
from workers.core.setup import Platform, connect

PER_USER = 20  # waits per user: MAX_WAITS_PER_USER's default


def wrk(url: str, token: str, seconds: int, connections: int = 32) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
        + ["-H", f"Authorization: Bearer {token}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    figures = {"rps": rps}
    for p in ("50", "99"):
        found = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        figures[f"p{p}_ms"] = float(found.group(1)) * scale[found.group(2)]  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return figures


def users(platform: Platform, n: int) -> list[tuple[str, uuid.UUID, uuid.UUID]]:
    """n platform admins (system kinds are theirs): a token, the user and their org each."""
    made = []
    with platform.sessions.begin() as session:
        for _ in range(n):
            user = create_user(
                session=session,
                email=f"serving-{uuid.uuid4().hex[:12]}@example.com",
                password="bench password 123",  # noqa: S106 - a throwaway database
                is_admin=True,
            )
            auth, _ = start_session(
                session=session, user=user, ttl_s=platform.settings.refresh_token_ttl_s
            )
            org_id = primary_org_id(session=session, user_id=user.id)
            assert org_id is not None
            token = issue_access_token(platform.settings, user.id, auth.id)
            made.append((token, user.id, org_id))
    return made


def later_jobs(platform: Platform, owner: uuid.UUID, org_id: uuid.UUID, n: int) -> list[str]:
    """n queued jobs: no worker runs in this bench, so only the bench changes them."""
    kind = get_kind("system.noop")
    assert kind is not None
    with platform.sessions() as session:
        jobs = enqueue.submit_many(
            session=session,
            dispatcher=platform.dispatcher,
            owner_id=owner,
            org_id=org_id,
            submissions=[enqueue.Submission.checked(kind, {})] * n,
        )
        session.commit()
        return [str(job.id) for job, _ in jobs]


class Waiters:
    """Clients that wait on the API: each keeps one request open, again as soon as it ends.

    Plain sockets on threads of their own (a thread each is cheap enough for the bench
    process); long-polls ask `?wait=30`, streams follow a job that will not change.
    """

    def __init__(self, port: int, targets: list[tuple[str, str]], streams: bool) -> None:
        self.port, self.targets, self.streams = port, targets, streams
        self.stop = threading.Event()
        self.open = 0
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(t,), daemon=True) for t in targets
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def _request(self, token: str, job_id: str) -> bytes:
        path = f"/api/v1/jobs/{job_id}/stream" if self.streams else f"/api/v1/jobs/{job_id}?wait=30"
        return (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()

    def _run(self, target: tuple[str, str]) -> None:
        while not self.stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=60) as sock:
                    sock.sendall(self._request(*target))
                    with self._lock:
                        self.open += 1
                    try:
                        while not self.stop.is_set() and sock.recv(65536):
                            if not self.streams:
                                break
                    finally:
                        with self._lock:
                            self.open -= 1
            except OSError:
                time.sleep(0.1)


@contextmanager
def api(env: dict[str, str], log: Path, app: str = "web:create_app()") -> Iterator[int]:
    port = free_port()
    with process(api_command(str(port), ROOT / "var" / f"serving-{port}.ctl", app), env, log):
        for _ in range(150):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        time.sleep(1)  # the workers load the app after the port opens
        yield port


def get_job_vs_bare(
    env: dict[str, str], log: Path, token: str, job_id: str, seconds: int, rounds: int
) -> tuple[dict[str, float], dict[str, float]]:
    ours, bare = [], []
    with api(env, log) as port, api(env, log, "bench.bare_app:create_app()") as bare_port:
        wrk(f"http://127.0.0.1:{port}/api/v1/jobs/{job_id}", token, 2)  # warm both
        wrk(f"http://127.0.0.1:{bare_port}/jobs/{job_id}", token, 2)
        for n in range(rounds):
            bare.append(wrk(f"http://127.0.0.1:{bare_port}/jobs/{job_id}", token, seconds))
            ours.append(wrk(f"http://127.0.0.1:{port}/api/v1/jobs/{job_id}", token, seconds))
            print(
                f"  round {n + 1}: bare {bare[-1]['rps']:.0f} req/s p99 {bare[-1]['p99_ms']:.1f}"
                f" ms; Backline {ours[-1]['rps']:.0f} req/s p99 {ours[-1]['p99_ms']:.1f} ms",
                flush=True,
            )

    def median(runs: list[dict[str, float]]) -> dict[str, float]:
        return {k: statistics.median(r[k] for r in runs) for k in runs[0]}

    return median(ours), median(bare)


def me_with_waiters(
    env: dict[str, str],
    log: Path,
    platform: Platform,
    waiters: int,
    seconds: int,
) -> tuple[dict[str, float], dict[str, float], int]:
    """/auth/me on one API process: alone, then beside `waiters` waiting clients."""
    people = users(platform, max(1, waiters // PER_USER) + 1)
    token = people[-1][0]
    targets = []
    for who, owner, org_id in people[:-1]:
        targets += [(who, job) for job in later_jobs(platform, owner, org_id, PER_USER)]
    targets = targets[:waiters]
    one = {**env, "API_WORKERS": "1"}
    with api(one, log) as port:
        url = f"http://127.0.0.1:{port}/api/v1/auth/me"
        wrk(url, token, 2)
        alone = wrk(url, token, seconds)
        half = len(targets) // 2
        polls, streams = Waiters(port, targets[:half], False), Waiters(port, targets[half:], True)
        polls.start()
        streams.start()
        # Measured once the server holds every wait (each holds a slot of its user's cap in
        # Redis), not while it is still taking them in.
        held = wait_until_held(env, [p[1] for p in people[:-1]], len(targets))
        time.sleep(1)
        beside = wrk(url, token, seconds)
        polls.stop.set()
        streams.stop.set()
    return alone, beside, held


def wait_until_held(env: dict[str, str], user_ids: list[uuid.UUID], n: int) -> int:
    """The number of waits the server holds, once it is `n` (or after two minutes)."""
    settings = load_settings(env)
    client = redis.Redis.from_url(settings.redis_url)
    keys = [f"{settings.rate_limit_key_prefix}:waits:{u}" for u in user_ids]
    deadline = time.monotonic() + 120
    while True:
        held = sum(client.zcard(k) for k in keys)
        if held >= n or time.monotonic() > deadline:
            return held
        time.sleep(0.2)


def stream_latency(env: dict[str, str], log: Path, platform: Platform, samples: int) -> list[float]:
    """Milliseconds from a committed change to its event read by a stream's client."""
    token, owner, org_id = users(platform, 1)[0]
    jobs = later_jobs(platform, owner, org_id, samples)
    taken = []
    with api(env, log) as port:
        for job_id in jobs:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(
                    f"GET /api/v1/jobs/{job_id}/stream HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {token}\r\n\r\n".encode()
                )
                received = b""
                while b"event: job" not in received:  # the stream is following the job
                    received += sock.recv(65536)
                with platform.sessions() as session:
                    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
                    assert job is not None
                    request_cancel(session=session, job=job)
                    session.commit()
                    t0 = time.perf_counter()
                received = b""
                while b"event: cancelled" not in received:
                    received += sock.recv(65536)
                taken.append((time.perf_counter() - t0) * 1000)
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="each wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--waiters", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    base = load_settings()
    log = ROOT / "var" / "bench-serving.log"
    log.parent.mkdir(exist_ok=True)
    with bench_database(base.database_url) as url:
        env = bench_env(url, base.redis_url, f"bench-{uuid.uuid4().hex[:8]}")
        settings = load_settings(env)
        platform = connect(settings)
        token, owner, org_id = users(platform, 1)[0]
        job_id = later_jobs(platform, owner, org_id, 1)[0]
        print("GET /api/v1/jobs/<id> and the bare app, alternated:", flush=True)
        ours, bare = get_job_vs_bare(env, log, token, job_id, args.seconds, args.rounds)
        alone, beside, held = me_with_waiters(env, log, platform, args.waiters, args.seconds)
        latency = stream_latency(env, log, platform, args.samples)
        platform.engine.dispose()
    print(
        f"API: {settings.api_workers} gevent processes (config/server.py), {os.cpu_count()} cores"
    )
    print(
        f"GET /api/v1/jobs/<id>  Backline {ours['rps']:.0f} req/s p99 {ours['p99_ms']:.1f} ms;"
        f" bare Flask + one SELECT {bare['rps']:.0f} req/s p99 {bare['p99_ms']:.1f} ms;"
        f" throughput {ours['rps'] / bare['rps']:.2f}x, p99 {ours['p99_ms'] / bare['p99_ms']:.2f}x"
        f" (medians of {args.rounds} rounds, wrk 32 connections)"
    )
    print(
        f"GET /api/v1/auth/me on one process: alone p99 {alone['p99_ms']:.1f} ms"
        f" ({alone['rps']:.0f} req/s); beside {held} waiting clients p99"
        f" {beside['p99_ms']:.1f} ms ({beside['rps']:.0f} req/s):"
        f" {beside['p99_ms'] / alone['p99_ms']:.2f}x; non-2xx {beside['non_2xx']:.0f}"
    )
    print(
        f"change -> event stream client  p50 {percentile(latency, 50):.2f} ms"
        f"  p99 {percentile(latency, 99):.2f} ms  ({len(latency)} samples)"
    )


if __name__ == "__main__":
    main()
