"""`make run` as a developer runs it, stopped every way it can be: each stop signal, once and
repeatedly, to the launcher and to its whole process group (through `make`, which passes a
SIGTERM on to its child), and kill -9 of the launcher. Afterwards no process of the stack is
left and its ports are free.

Each run starts in a directory of its own (its `var/`), with the repository's code on the
path. Where the embedded PostgreSQL and Redis are not what a case is about, the stack uses
the tests' servers, in a database and a Redis namespace of its own.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from config import Settings
from config.settings import normalise_database_url
from tests import servers
from tests.servers import ROOT
from tests.smtp import free_port

STARTED_WITHIN_S = 90  # the embedded PostgreSQL's first start creates its cluster
STOPPED_WITHIN_S = 30
GONE_WITHIN_S = 10  # after kill -9 of the launcher


class Run:
    """One `make run` (or `python -m devstack`) in `directory`, its output in a log file."""

    def __init__(self, directory: Path, env: dict[str, str], *, through_make: bool) -> None:
        self.directory = directory
        self.port = free_port()
        self.smtp_port = free_port()
        self.log = directory / f"run-{uuid.uuid4().hex[:6]}.log"
        for name in ("alembic.ini", "migrations"):
            if not (directory / name).exists():
                (directory / name).symlink_to(ROOT / name)
        env = {
            **env,
            "PYTHONPATH": str(ROOT),
            "PORT": str(self.port),
            "SMTP_PORT": str(self.smtp_port),
            "WORKER_PROCESSES": "1",
            "WORKER_THREADS": "2",
        }
        if through_make:
            prefix = Path(sys.prefix)
            # -o: the virtualenv is the one running the tests; make must not rebuild it.
            argv = ["make", "-f", str(ROOT / "Makefile"), "-o", str(prefix / ".installed")]
            argv += ["run", f"VENV={prefix}"]
        else:
            argv = [sys.executable, "-m", "devstack"]
        with self.log.open("wb") as out:
            # A session of its own, as `setsid make run &` gives: its process group is ours
            # to signal.
            self.process = subprocess.Popen(
                argv,
                cwd=directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_up(self) -> None:
        """Until the API answers and the worker is ready."""
        deadline = time.monotonic() + STARTED_WITHIN_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the stack exited:\n{self.output()}"
            if "Worker process is ready" in self.output() and self._api_answers():
                return
            time.sleep(0.2)
        raise AssertionError(f"the stack did not come up:\n{self.output()}")

    def _api_answers(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).is_success
        except httpx.HTTPError:
            return False

    def processes(self) -> list[psutil.Process]:
        """Every process of the stack: the launcher's (or make's) descendants, and the
        embedded servers, which are not (they detach themselves)."""
        root = psutil.Process(self.process.pid)
        found = [root, *root.children(recursive=True)]
        record = json.loads((self.directory / "var" / "devstack.pid").read_text())
        for server in ("postgres", "redis"):
            if record.get(server):
                found.append(psutil.Process(record[server]["pid"]))
        return found

    def left_over(self, before: list[psutil.Process]) -> list[str]:
        """What still runs of the processes seen before, or of any with its working
        directory in the run's (a process the snapshot missed)."""
        left = [p for p in before if _running(p)]
        for process in psutil.process_iter(["cwd", "status"]):
            cwd = process.info["cwd"] or ""
            if cwd.startswith(str(self.directory)) and _running(process):
                left.append(process)
        return sorted({f"{p.pid} {_command(p)}" for p in left})

    def ports_free(self) -> bool:
        for port in (self.port, self.smtp_port):
            try:
                socket.create_server(("127.0.0.1", port)).close()
            except OSError:
                return False
        return True

    def wait_gone(self, before: list[psutil.Process], timeout_s: float) -> list[str]:
        """Wait until nothing of the stack runs; what still does then (killed, so that the
        next test starts clean)."""
        deadline = time.monotonic() + timeout_s
        while (left := self.left_over(before)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if left:
            for process in before:
                if _running(process):
                    process.kill()
        return left


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _command(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())[:120]
    except psutil.Error:
        return "?"


@pytest.fixture(scope="module")
def services_env(settings: Settings) -> Iterator[dict[str, str]]:
    """The tests' PostgreSQL (an empty database of its own, which the stack migrates) and
    Redis (a namespace of its own)."""
    admin_url = normalise_database_url(servers.postgres_admin_url())
    name = f"backline_test_devstack_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    yield {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": settings.redis_url,
        "BROKER_NAMESPACE": f"backline-test-devstack-{uuid.uuid4().hex[:8]}",
    }
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def embedded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for the runs with embedded servers: the second reuses the cluster."""
    return tmp_path_factory.mktemp("embedded")


def embedded_env() -> dict[str, str]:
    unset = ("DATABASE_URL", "REDIS_URL", "SMTP_HOST", "BROKER_NAMESPACE")
    return {k: v for k, v in os.environ.items() if k not in unset}


def stop_and_check(run: Run, sig: signal.Signals, *, to_group: bool, times: int) -> None:
    run.wait_until_up()
    before = run.processes()
    try:
        for _ in range(times):
            if to_group:
                os.killpg(run.process.pid, sig)
            else:
                run.process.send_signal(sig)
            time.sleep(0.01)
        code = run.process.wait(timeout=STOPPED_WITHIN_S)
    except subprocess.TimeoutExpired:
        run.wait_gone(before, 0)
        raise AssertionError(f"the stack did not stop on {sig.name}:\n{run.output()}") from None

    output = run.output()
    assert f"devstack  | {sig.name}: stopping everything" in output, output
    assert output.rstrip().endswith("devstack  | stopped") or "devstack  | stopped\n" in output
    # make dies of the signal it passed on once its child is done; the launcher exits 0.
    assert code == (-sig if run.process.args[0] == "make" else 0), output
    assert run.wait_gone(before, 5) == []
    assert run.ports_free()
    assert not (run.directory / "var" / "devstack.pid").exists()
    assert not (run.directory / "var" / "devstack.env").exists()


@pytest.mark.e2e
def test_sigterm_to_the_group_of_make_run_stops_everything_embedded_servers_too(
    embedded_dir: Path,
) -> None:
    # The reported case: `setsid make run &`, then `kill -TERM -<its group>`. make passes the
    # signal on, so the launcher gets it twice.
    run = Run(embedded_dir, embedded_env(), through_make=True)
    stop_and_check(run, signal.SIGTERM, to_group=True, times=1)
    output = run.output()
    assert "starting embedded PostgreSQL" in output and "starting embedded Redis" in output


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("sig", "to_group", "times"),
    [
        (signal.SIGTERM, False, 3),
        (signal.SIGTERM, True, 3),
        (signal.SIGHUP, False, 1),
        (signal.SIGHUP, True, 3),
        (signal.SIGINT, False, 3),
        (signal.SIGINT, True, 1),
    ],
    ids=[
        "term-launcher-repeated",
        "term-group-repeated",
        "hup-launcher-once",
        "hup-group-repeated",
        "int-launcher-repeated",
        "int-group-once",
    ],
)
def test_every_stop_signal_once_or_repeatedly_stops_everything(
    services_env: dict[str, str],
    tmp_path: Path,
    sig: signal.Signals,
    to_group: bool,
    times: int,
) -> None:
    # To the group: through make, as a terminal or a process manager would send it.
    run = Run(tmp_path, services_env, through_make=to_group)
    stop_and_check(run, sig, to_group=to_group, times=times)


@pytest.mark.e2e
def test_when_the_launcher_is_killed_its_watchdog_stops_everything(embedded_dir: Path) -> None:
    run = Run(embedded_dir, embedded_env(), through_make=False)
    run.wait_until_up()
    before = run.processes()
    assert any("postgres" in _command(p) for p in before)

    run.process.kill()
    run.process.wait()

    assert run.wait_gone(before, GONE_WITHIN_S) == [], run.output()
    assert "watchdog  | the launcher (pid" in run.output()
    assert run.ports_free()
    assert not (run.directory / "var" / "devstack.pid").exists()
    # The embedded PostgreSQL was shut down, not left for the next start to recover.
    assert not (run.directory / "var" / "pg" / "postmaster.pid").exists()
