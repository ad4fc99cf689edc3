"""Before a start: is a stack from an earlier `make run` still running, or are our ports taken?

Rather than failing later on a port in use (or, worse, sharing an embedded server with a
stack that is still running), the launcher names what stands in its way: the processes of
the earlier stack from its record (devstack/record.py), or whoever listens on the ports, with
the command that stops them.
"""

from __future__ import annotations

import socket
from pathlib import Path

import psutil

from devstack.record import StackRecord, describe, port_holders


def blockers(var: Path, ports: dict[str, int]) -> list[str]:
    """What stands in the way of a start, as lines of a message; none when nothing does.

    `ports` maps the variable that sets each port we are to listen on to its value.
    """
    record = StackRecord.load(var / "devstack.pid")
    if record is not None:
        running = record.live_processes()
        if running:
            return _still_running(record, running)
        record.remove()  # an earlier stack that is gone: its leftovers with it
        (var / "devstack.env").unlink(missing_ok=True)
    lines: list[str] = []
    for variable, port in ports.items():
        if _answers(port):
            lines += _port_taken(variable, port)
    return lines


def _still_running(record: StackRecord, running: list[psutil.Process]) -> list[str]:
    pids = " ".join(str(pid) for pid in _tops(running) if pid != record.launcher.pid)
    if record.launcher.alive():
        head = [
            f"another `make run` is running (launcher pid {record.launcher.pid}): stop it "
            f"with Ctrl-C in its terminal, or with `kill -TERM {record.launcher.pid}`",
        ]
    else:
        head = [
            "an earlier `make run` did not stop everything it started "
            f"(var/devstack.pid); stop what is left with `kill -TERM {pids}`",
        ]
    return [*head, "its processes still running:", *(f"  {describe(p)}" for p in running)]


def _tops(processes: list[psutil.Process]) -> list[int]:
    """The pids of those whose parent is not among them: signalled, each passes it on to its
    own children (a Dramatiq worker process takes a second SIGTERM as "kill now")."""
    pids = {p.pid for p in processes}
    tops = []
    for process in processes:
        try:
            if process.ppid() not in pids:
                tops.append(process.pid)
        except psutil.NoSuchProcess:
            continue
    return tops


def _port_taken(variable: str, port: int) -> list[str]:
    holders = port_holders(port)
    if not holders:
        return [f"port {port} ({variable}) is taken; set {variable} to a free one"]
    pids = " ".join(str(p.pid) for p in holders)
    return [
        f"port {port} ({variable}) is taken by the process(es) below: stop them "
        f"(`kill -TERM {pids}`) or set {variable} to a free port",
        *(f"  {describe(p)}" for p in holders),
    ]


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
