"""`python -m bench.recovery`: how soon every job finishes after the broker lost its data.

A real stack, worker processes (`python -m workers`) and the scheduler (`python -m
workers.core.scheduler`), on a database and a Redis namespace of its own, with the default
recovery settings. Jobs are submitted in a steady stream (system.sleep of 0.2–1 s and
system.noop, half each); meanwhile the workers are killed with SIGKILL and restarted (twice
by default), and every key of the namespace is deleted once (what a FLUSHALL, or a Redis
restart without persistence, does to them; only this namespace's keys: the Redis is shared).

It prints when the last job finished, counted from the flush and from the first submission;
how the jobs ended; the messages the recovery sent again, and when; how many deliveries
found nothing to claim (a job's second message: the workers log each at DEBUG); and whether
any job ran more often than its lost workers explain.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import redis
from sqlalchemy import text

from bench.throughput import BENCH_PASSWORD, ROOT, bench_database, bench_env
from config import load_settings
from models.accounts.users import create_user
from models.orgs.organizations import primary_org_id
from workers.core import enqueue
from workers.core.presence import alive
from workers.core.registry import get_kind
from workers.core.setup import Platform, connect

NOTHING_CLAIMED = "nothing to do (duplicate delivery"


@dataclass
class Timeline:
    """When the bench did what (epoch seconds)."""

    first_submit: float = 0.0
    last_submit: float = 0.0
    flush: float = 0.0
    kills: list[float] = field(default_factory=list)


class Workers:
    """`python -m workers` in a process group of its own, to be killed whole."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "workers"],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL to every worker process at once, as a lost machine would."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def flush_namespace(client: redis.Redis, namespace: str) -> int:
    """Delete every key of the namespace (never FLUSHALL: others share this Redis)."""
    keys = list(client.scan_iter(f"{namespace}:*", count=1000))
    for first in range(0, len(keys), 500):
        client.delete(*keys[first : first + 500])
    return len(keys)


def submit_stream(platform: Platform, jobs: int, seconds: float, timeline: Timeline) -> None:
    """Submit `jobs` jobs evenly over `seconds`, a batch every quarter second."""
    sleep_kind, noop_kind = get_kind("system.sleep"), get_kind("system.noop")
    assert sleep_kind is not None and noop_kind is not None
    with platform.sessions.begin() as session:
        owner = create_user(
            session=session, email="recovery@example.com", password=BENCH_PASSWORD, is_admin=True
        ).id
        org_id = primary_org_id(session=session, user_id=owner)
        assert org_id is not None
    rng = random.Random(25)  # noqa: S311 - job lengths, not secrets
    batches = max(1, int(seconds / 0.25))
    timeline.first_submit = time.time()
    for n in range(batches):
        size = jobs // batches + (1 if n < jobs % batches else 0)
        sleeps = size // 2
        with platform.sessions() as session:
            for kind, params in (
                (sleep_kind, [{"seconds": round(rng.uniform(0.2, 1.0), 2)} for _ in range(sleeps)]),
                (noop_kind, [{}] * (size - sleeps)),
            ):
                if params:
                    enqueue.submit_many(
                        session=session,
                        dispatcher=platform.dispatcher,
                        owner_id=owner,
                        org_id=org_id,
                        submissions=[enqueue.Submission.checked(kind, p) for p in params],
                    )
            session.commit()
        time.sleep(max(0.0, timeline.first_submit + (n + 1) * 0.25 - time.time()))
    timeline.last_submit = time.time()


def status_counts(platform: Platform) -> Counter[str]:
    with platform.engine.connect() as conn:
        rows = conn.execute(text("SELECT status::text, count(*) FROM jobs GROUP BY 1")).all()
    return Counter({status: n for status, n in rows})


def wait_for_workers(client: redis.Redis, namespace: str, processes: int) -> None:
    deadline = time.monotonic() + 60
    while len(alive(client, namespace)) < processes:
        if time.monotonic() > deadline:
            raise RuntimeError("the workers did not start; see var/bench-recovery.log")
        time.sleep(0.2)


def nothing_claimed(log: Path, flush: float) -> list[float]:
    """When (seconds after the flush) each delivery that claimed nothing came, from the
    workers' DEBUG lines (`HH:MM:SS` local time)."""
    day = time.localtime(flush)
    midnight = time.mktime((day.tm_year, day.tm_mon, day.tm_mday, 0, 0, 0, 0, 0, -1))
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if NOTHING_CLAIMED in line:
            hours, minutes, seconds = (int(part) for part in line[:8].split(":"))
            found.append(midnight + hours * 3600 + minutes * 60 + seconds - int(flush))
    return found


def report(platform: Platform, timeline: Timeline, log: Path) -> None:
    """The figures, from the jobs' histories and the workers' log."""
    with platform.engine.connect() as conn:
        last = float(
            conn.execute(text("SELECT extract(epoch FROM max(finished_at)) FROM jobs")).scalar()
        )
        runs = conn.execute(
            text(
                """
                SELECT job_id,
                       count(*) FILTER (WHERE type = 'started') AS starts,
                       count(*) FILTER (WHERE type = 'recovered'
                                          AND data->>'reason' = 'stale_heartbeat')
                       + count(*) FILTER (WHERE type IN ('interrupted', 'retry_scheduled'))
                         AS explained
                FROM job_events GROUP BY job_id
                """
            )
        ).all()
        recoveries = conn.execute(
            text(
                """
                SELECT (extract(epoch FROM at) - :flush)::int AS second, data->>'reason', count(*)
                FROM job_events WHERE type = 'recovered' GROUP BY 1, 2 ORDER BY 1
                """
            ),
            {"flush": timeline.flush},
        ).all()
    statuses = status_counts(platform)
    again = sum(1 for r in runs if r.starts > 1)
    unexplained = sum(1 for r in runs if r.starts > 1 + r.explained)
    duplicates = nothing_claimed(log, timeline.flush)
    soon = sum(1 for at in duplicates if 0 <= at < 5)
    total = sum(statuses.values())
    print(f"jobs: {total} ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))})")
    print(
        f"last job finished {last - timeline.flush:.1f} s after the flush, "
        f"{last - timeline.first_submit:.1f} s after the first submission "
        f"(submissions over {timeline.last_submit - timeline.first_submit:.1f} s; kills at "
        + ", ".join(f"{k - timeline.first_submit:.1f} s" for k in timeline.kills)
        + f", flush at {timeline.flush - timeline.first_submit:.1f} s)"
    )
    print("messages sent again, by second after the flush (reason: jobs):")
    for second, reason, n in recoveries:
        print(f"  {second:+5d} s  {reason}: {n}")
    print(
        f"deliveries that found nothing to claim (a job's second message): {len(duplicates)}, "
        f"{soon} of them within 5 s of the flush"
    )
    print(
        f"jobs started more than once: {again} (each after its worker was killed); "
        f"more often than their lost workers explain: {unexplained}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1800)
    parser.add_argument("--submit-seconds", type=float, default=12.0)
    parser.add_argument("--kill-at", type=float, nargs="*", default=[4.0, 10.0])
    parser.add_argument("--flush-at", type=float, default=8.0)
    parser.add_argument("--timeout", type=float, default=400.0)
    args = parser.parse_args()
    base = load_settings()
    log = ROOT / "var" / "bench-recovery.log"
    log.parent.mkdir(exist_ok=True)
    log.write_bytes(b"")
    client = redis.Redis.from_url(base.redis_url)
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    with bench_database(base.database_url) as url:
        env = bench_env(url, base.redis_url, namespace, LOG_LEVEL="INFO")
        worker_env = {**env, "LOG_LEVEL": "DEBUG"}  # to count the deliveries that claim nothing
        platform = connect(load_settings(env))
        timeline = Timeline()
        workers = Workers(worker_env, log)
        with log.open("ab") as out:
            scheduler = subprocess.Popen(
                [sys.executable, "-m", "workers.core.scheduler"],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            workers.start()
            wait_for_workers(client, namespace, base.worker_processes)
            submitter = threading.Thread(
                target=submit_stream,
                args=(platform, args.jobs, args.submit_seconds, timeline),
            )
            submitter.start()
            while not timeline.first_submit:
                time.sleep(0.01)
            actions = sorted(
                [(at, "kill") for at in args.kill_at] + [(args.flush_at, "flush")],
            )
            for at, action in actions:
                time.sleep(max(0.0, timeline.first_submit + at - time.time()))
                if action == "kill":
                    timeline.kills.append(time.time())
                    workers.kill()
                    workers.start()
                else:
                    timeline.flush = time.time()
                    keys = flush_namespace(client, namespace)
                    print(f"flushed {keys} keys of {namespace}", flush=True)
            submitter.join()
            deadline = time.monotonic() + args.timeout
            while True:
                counts = status_counts(platform)
                waiting = counts["queued"] + counts["running"]
                print(
                    f"  t+{time.time() - timeline.first_submit:5.0f} s: "
                    + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
                    flush=True,
                )
                if not waiting or time.monotonic() > deadline:
                    break
                time.sleep(5)
            report(platform, timeline, log)
        finally:
            workers.stop()
            scheduler.terminate()
            scheduler.wait(timeout=30)
            platform.engine.dispose()
            platform.broker.close()
            flush_namespace(client, namespace)


if __name__ == "__main__":
    main()
