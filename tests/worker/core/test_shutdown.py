"""A real worker process stops on SIGTERM within its grace, whatever became of PostgreSQL and
Redis meanwhile: it must not hang on a database or a broker that is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
from sqlalchemy.engine import make_url

from config import Settings
from models.core.jobs import JobStatus
from tests.servers import ROOT
from tests.tcp import Proxy
from tests.worker.conftest import eventually, load, submit_job
from workers.core.setup import Platform
from workers.core.shutdown import SHUTDOWN_MARGIN_S, ShutdownDeadline

GRACE_S = 1.0
# Beyond what the worker promises, which counts from when it begins to stop: Dramatiq's
# worker process notices the signal within a second, and its parent the exit within another.
SLACK_S = 4.0


def postgres_upstream(url: str) -> tuple[str, int] | str:
    parsed = make_url(url)
    host = parsed.host or str(parsed.query.get("host", "127.0.0.1"))
    port = parsed.port or 5432
    return f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)


def redis_upstream(url: str) -> tuple[str, int] | str:
    kwargs = redis.Redis.from_url(url).connection_pool.connection_kwargs
    if "path" in kwargs:
        return str(kwargs["path"])
    return (str(kwargs.get("host", "127.0.0.1")), int(kwargs.get("port", 6379)))


def start_worker_process(
    settings: Settings, database: Proxy, broker: Proxy, log: Path
) -> subprocess.Popen[bytes]:
    database_url = (
        make_url(settings.database_url)
        .set(host="127.0.0.1", port=database.port)
        # One TCP connection per attempt, so a cut database refuses at once.
        .set(query={"sslmode": "disable", "gssencmode": "disable"})
        .render_as_string(hide_password=False)
    )
    env = {
        **os.environ,
        "BACKLINE_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{broker.port}/0",
        "BROKER_NAMESPACE": settings.broker_namespace,
        "WORKER_PROCESSES": "1",
        "WORKER_THREADS": "2",
        "WORKER_SHUTDOWN_GRACE_S": str(GRACE_S),
        "HEARTBEAT_INTERVAL_S": "0.3",
        "HEARTBEAT_STALE_S": "2",
        "LOG_LEVEL": "INFO",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "workers"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(
    ("gone", "how"),
    [("postgres", "cut"), ("redis", "cut"), ("both", "stall")],
)
def test_a_worker_stops_within_its_grace_when_postgres_or_redis_is_gone(
    settings: Settings,
    committed_platform: Platform,
    owner: uuid.UUID,
    tmp_path: Path,
    gone: str,
    how: str,
) -> None:
    database = Proxy(postgres_upstream(settings.database_url))
    broker = Proxy(redis_upstream(settings.redis_url))
    log = tmp_path / "worker.log"
    worker = start_worker_process(settings, database, broker, log)
    try:
        # A long job that checks in every fraction of a second: it is running when they go.
        job_id = submit_job(committed_platform, owner, "system.sleep", {"seconds": 60})

        def under_way() -> bool:
            job = load(committed_platform, job_id)
            return job.status == JobStatus.RUNNING and job.progress["done"] >= 1

        assert eventually(under_way, timeout_s=30), log.read_text()
        for proxy, name in ((database, "postgres"), (broker, "redis")):
            if gone in (name, "both"):
                getattr(proxy, how)()
        time.sleep(1)  # its threads run into the trouble

        began = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=GRACE_S + SHUTDOWN_MARGIN_S + SLACK_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker did not stop in time; its log:\n{log.read_text()}")
        took_s = time.monotonic() - began
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        database.close()
        broker.close()

    assert took_s < GRACE_S + SHUTDOWN_MARGIN_S + SLACK_S
    # Its worker processes went with it.
    assert eventually(lambda: not group_alive(worker.pid), timeout_s=2)


class _Stopping:
    """A worker's runtime as the deadline sees it: `running` threads in job code."""

    def __init__(self, settings: Settings, running: int) -> None:
        self.settings = settings.replace(worker_shutdown_grace_s=0.0)
        self.running = running

    def running_job_code(self) -> int:
        return self.running


def _exit_time(runtime: _Stopping, margin_s: float) -> float:
    """When the deadline ended the process, in seconds after the worker began to stop."""
    exited = threading.Event()
    deadline = ShutdownDeadline(
        runtime,  # type: ignore[arg-type]
        margin_s=margin_s,
        exit=lambda _code: exited.set(),
    )
    began = time.monotonic()
    deadline.before_worker_shutdown(None, None)  # type: ignore[arg-type]
    assert exited.wait(30)
    return time.monotonic() - began


def test_a_job_running_its_own_code_is_waited_for_while_the_database_answers(
    settings: Settings,
) -> None:
    runtime = _Stopping(settings, running=1)
    threading.Timer(4.0, lambda: setattr(runtime, "running", 0)).start()  # then it ends
    assert _exit_time(runtime, margin_s=2.0) >= 4.0


def test_with_the_database_gone_a_job_running_its_own_code_is_not_waited_for(
    settings: Settings,
) -> None:
    database = Proxy(postgres_upstream(settings.database_url))
    database.cut()
    unreachable = (
        make_url(settings.database_url)
        .set(host="127.0.0.1", port=database.port, query={"sslmode": "disable"})
        .render_as_string(hide_password=False)
    )
    runtime = _Stopping(settings.replace(database_url=unreachable), running=1)
    assert _exit_time(runtime, margin_s=2.0) < 3.0
