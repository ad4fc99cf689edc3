"""`python -m devstack.watchdog RECORD`: stops the stack if its launcher dies without doing so.

The launcher starts this first, in a session of its own (so a signal to the launcher's
process group does not reach it), with the read end of a pipe as its standard input. Only
the launcher holds the write end: however the launcher ends (kill -9, the OOM killer, a
crash), the kernel closes it, and the read here returns. A launcher that stopped everything
removed its record first, and this exits quietly. Otherwise it stops what the record lists,
as the launcher would have: each supervised process with SIGTERM (gunicorn and Dramatiq pass
it on to their own children), then whatever is left of their process groups with SIGKILL,
then PostgreSQL (a fast shutdown) and Redis.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from devstack.record import Proc, StackRecord

STOP_TIMEOUT_S = 10.0
SERVER_STOP_TIMEOUT_S = 10.0
POLL_S = 0.1


class Watchdog:
    """The launcher's side: starts the watchdog; `release()` once the stack has stopped."""

    def __init__(self, record_path: Path, cwd: Path) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "devstack.watchdog", str(record_path)],
            cwd=cwd,
            stdin=subprocess.PIPE,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def release(self) -> None:
        """Let the watchdog go: it exits, finding the record removed."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()


def main(argv: list[str]) -> int:
    record_path = Path(argv[0])
    sys.stdin.buffer.read()  # until the launcher is gone, one way or another
    record = StackRecord.load(record_path)
    if record is None:
        return 0  # stopped cleanly: nothing left to do
    say(f"the launcher (pid {record.launcher.pid}) is gone; stopping what it started")
    stop_stack(record)
    record.remove()
    (record_path.parent / "devstack.env").unlink(missing_ok=True)
    say("stopped")
    return 0


def stop_stack(record: StackRecord) -> None:
    """Stop the supervised processes, then the embedded servers, each within its timeout."""
    groups = [p.pid for p in record.groups.values()] + record.orphaned_groups
    for leader in record.groups.values():
        if leader.alive():
            _signal(leader.pid, signal.SIGTERM)  # the leader passes it on to its children
    for group in record.orphaned_groups:
        _signal_group(group, signal.SIGTERM)  # no leader left to pass it on
    if not _wait(lambda: not any(_group_alive(g) for g in groups), STOP_TIMEOUT_S):
        say("processes still running; killing them")
    for group in groups:
        _signal_group(group, signal.SIGKILL)
    if record.postgres is not None:
        # SIGINT is PostgreSQL's fast shutdown (sessions closed, data flushed), as pg_ctl's.
        _stop_server(record.postgres, signal.SIGINT, "PostgreSQL")
    if record.redis is not None:
        _stop_server(record.redis, signal.SIGTERM, "Redis")  # Redis saves, then exits
        if record.redis_dir:
            shutil.rmtree(record.redis_dir, ignore_errors=True)


def _stop_server(server: Proc, sig: signal.Signals, name: str) -> None:
    if not server.alive():
        return
    _signal(server.pid, sig)
    if not _wait(lambda: not server.alive(), SERVER_STOP_TIMEOUT_S):
        say(f"embedded {name} (pid {server.pid}) did not stop in time; killing it")
        _signal(server.pid, signal.SIGKILL)
        _wait(lambda: not server.alive(), 2.0)


def _group_alive(group: int) -> bool:
    """Whether a process of `group` still runs (zombies have exited)."""
    return any(_in_group(p, group) for p in psutil.process_iter(["status"]))


def _in_group(process: psutil.Process, group: int) -> bool:
    if process.info["status"] == psutil.STATUS_ZOMBIE:
        return False
    try:
        return os.getpgid(process.pid) == group
    except OSError:
        return False


def _wait(done: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


def say(text: str) -> None:
    """Print under the launcher's output; the terminal may be gone, which is no error."""
    with contextlib.suppress(OSError):
        print(f"watchdog  | {text}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
