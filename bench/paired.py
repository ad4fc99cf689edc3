"""Submit→succeeded latency of this checkout and of another revision, measured side by side.

    python -m bench.paired REV [--samples N] [--idle-samples N]

REV (a commit, tag or branch) is checked out into a temporary git worktree. Both versions'
stacks run at once, each with its own database, Redis namespace, API and workers, and the
samples alternate between them. Runs of the bench minutes apart on a shared virtual machine
can differ by more than a change is worth; paired samples meet the same moods of the machine.
Prints the p50 of both flows (POST then GET ?wait, and one POST with Prefer: wait), busy and
after 2 s of idleness, for each version.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.throughput import (
    ROOT,
    Client,
    api_command,
    bench_database,
    bench_user,
    process,
    submit_and_poll,
    submit_and_wait,
    wait_until_up,
)
from config import load_settings
from tests.smtp import free_port

FLOWS = {"two requests": submit_and_poll, "one request": submit_and_wait}


@contextmanager
def worktree(rev: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="backline-paired-") as tmp:
        path = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=ROOT, check=True)
        try:
            (path / "var").mkdir(exist_ok=True)
            yield path
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT)


def start_stack(stack: ExitStack, root: Path, base_env: dict[str, str]) -> Client:
    """Database, API and workers of the checkout at `root`; a client of its API."""
    settings = load_settings()
    url = stack.enter_context(bench_database(settings.database_url, root))
    port = str(free_port())
    env = {
        **base_env,
        "DATABASE_URL": url,
        "BROKER_NAMESPACE": f"paired-{uuid.uuid4().hex[:8]}",
        "PORT": port,
    }
    _, headers = bench_user(env)
    log = ROOT / "var" / "bench-paired.log"
    api = api_command(port, root / "var" / "bench-gunicorn.ctl")
    if not (root / "config" / "server.py").exists():  # a revision before config/server.py
        api = [*api[:1], *api[3:], "--worker-class", "gthread", "--workers", "2"]
        api += ["--threads", "16", "--keep-alive", "30"]
    stack.enter_context(process(api, env, log, cwd=root))
    stack.enter_context(process([sys.executable, "-m", "workers"], env, log, cwd=root))
    client = Client(port, headers)
    wait_until_up(client)
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the revision to compare this checkout with")
    parser.add_argument("--samples", type=int, default=150)
    parser.add_argument("--idle-samples", type=int, default=20)
    args = parser.parse_args()
    settings = load_settings()
    base_env = {
        **os.environ,
        "REDIS_URL": settings.redis_url,
        "LOG_LEVEL": "WARNING",
        "WORKER_PROCESSES": str(settings.worker_processes),
        "WORKER_THREADS": str(settings.worker_threads),
        "RATE_LIMITS_ENABLED": "false",
    }
    (ROOT / "var").mkdir(exist_ok=True)
    with ExitStack() as stack:
        other = stack.enter_context(worktree(args.rev))
        versions = {args.rev: other, "this checkout": ROOT}
        clients = {name: start_stack(stack, root, base_env) for name, root in versions.items()}
        samples: dict[tuple[str, str, str], list[float]] = {}

        def take(state: str, pause_s: float) -> None:
            for name, client in clients.items():
                for flow, run in FLOWS.items():
                    time.sleep(pause_s)
                    samples.setdefault((name, flow, state), []).append(run(client)[0])

        for _ in range(20):
            take("warm-up", 0)
        for _ in range(args.samples):
            take("busy", 0)
        for _ in range(args.idle_samples):
            take("after 2 s idle", 2)
    print(f"p50 submit->succeeded, {args.samples} busy and {args.idle_samples} idle samples each")
    for name in versions:
        figures = (
            f"{flow} {state} {statistics.median(samples[(name, flow, state)]):.1f} ms"
            for flow in FLOWS
            for state in ("busy", "after 2 s idle")
        )
        print(f"  {name:14s} " + ", ".join(figures))


if __name__ == "__main__":
    main()
