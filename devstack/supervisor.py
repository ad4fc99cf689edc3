"""Runs a few long-lived processes, prefixes their output, restarts the ones that die.

Each process gets its own session and process group, so a Ctrl-C in the terminal (or a
signal to the launcher's group) reaches only the launcher, which then stops the processes in
order. Stopping sends SIGTERM to each process (not to its whole group: gunicorn and Dramatiq
forward it to their own children, and a Dramatiq worker process takes a second SIGTERM as
"kill now"), waits, then SIGKILLs whatever is left of each group. The loop waits on the
processes' output and on the stop request together (devstack/stopping.py), so a stop begins
the moment it is asked for, however many signals ask.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack.output import LineSplitter, Printer
from devstack.stopping import StopRequest

log = logging.getLogger("devstack")

POLL_INTERVAL_S = 0.2


@dataclass(frozen=True)
class ProcessSpec:
    """A process to keep running: its name in the output and its command line."""

    name: str
    argv: list[str]


@dataclass(frozen=True)
class RestartPolicy:
    """Back off exponentially; give up after `max_restarts` exits within `window_s`."""

    max_restarts: int = 5
    window_s: float = 60.0
    base_delay_s: float = 1.0
    max_delay_s: float = 10.0

    def delay_s(self, exits: deque[float], now: float) -> float | None:
        """Seconds to wait before the next start, or None to give up."""
        while exits and now - exits[0] > self.window_s:
            exits.popleft()
        if len(exits) > self.max_restarts:
            return None
        return min(self.base_delay_s * 2.0 ** (len(exits) - 1), self.max_delay_s)


@dataclass
class _Managed:
    spec: ProcessSpec
    proc: subprocess.Popen[bytes] | None = None
    restart_at: float | None = None
    exits: deque[float] = field(default_factory=deque)


class Supervisor:
    """Starts `specs`, runs until `stop` is set (or a process keeps dying), stops them all.

    `on_change` is called after each start and each exit, for the stack's record
    (devstack/record.py): `pids()` and `orphaned_groups()` then say what runs.
    """

    def __init__(
        self,
        specs: list[ProcessSpec],
        env: Mapping[str, str],
        printer: Printer,
        *,
        cwd: Path,
        policy: RestartPolicy | None = None,
        stop_timeout_s: float = 10.0,
        on_change: Callable[[Supervisor], None] | None = None,
    ) -> None:
        self.managed = [_Managed(spec) for spec in specs]
        self.env = dict(env)
        self.printer = printer
        self.cwd = cwd
        self.policy = policy or RestartPolicy()
        self.stop_timeout_s = stop_timeout_s
        self.on_change = on_change
        self._selector = selectors.DefaultSelector()
        self._orphaned_groups: list[int] = []
        self._stop: StopRequest | None = None

    def run(self, stop: StopRequest) -> int:
        """0 after a requested stop; 1 when a process died too often to go on."""
        code = 0
        self._stop = stop
        self._selector.register(stop.fileno(), selectors.EVENT_READ, None)
        try:
            for item in self.managed:
                self._spawn(item)
                if stop.is_set():
                    break
            while not stop.is_set():
                self._pump(POLL_INTERVAL_S)
                if not self._reap():
                    code = 1
                    break
                self._restart_due()
            if stop.is_set():
                log.info("%s: stopping everything", stop.reason())
        finally:
            self._stop_all()
            self._selector.close()
        return code

    def pids(self) -> dict[str, int]:
        """The pid of each running process, by name."""
        return {m.spec.name: m.proc.pid for m in self.managed if m.proc and m.proc.poll() is None}

    def orphaned_groups(self) -> list[int]:
        """The process groups of processes that exited, whose children may live on."""
        return list(self._orphaned_groups)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    def _spawn(self, item: _Managed) -> None:
        item.proc = subprocess.Popen(  # noqa: S603 - our own fixed command lines
            item.spec.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        item.restart_at = None
        stdout = item.proc.stdout
        if stdout is None:  # cannot happen with stdout=PIPE; keeps the type checker honest
            raise RuntimeError("no pipe to read the process's output from")
        self._selector.register(stdout, selectors.EVENT_READ, (item.spec.name, LineSplitter()))
        log.info("started %s (pid %s)", item.spec.name, item.proc.pid)
        self._changed()

    def _pump(self, timeout_s: float) -> None:
        """Print whatever output is ready, waiting at most `timeout_s` for some (or for a
        stop request)."""
        for key, _ in self._selector.select(timeout_s):
            if key.data is None:  # the stop request's wake-up
                if self._stop is not None:
                    self._stop.drain()
                continue
            name, splitter = key.data
            chunk = os.read(key.fd, 65536)
            lines = splitter.feed(chunk) if chunk else splitter.flush()
            for line in lines:
                self.printer.line(name, line)
            if not chunk:
                self._selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]

    def _reap(self) -> bool:
        """Schedule restarts of exited processes; False if one must be given up on."""
        now = time.monotonic()
        for item in self.managed:
            if item.proc is None or item.restart_at is not None:
                continue
            code = item.proc.poll()
            if code is None:
                continue
            # Its children may outlive it (a Dramatiq master killed with -9 leaves its worker
            # processes consuming); ask what is left of the group to stop.
            _signal(item.proc.pid, signal.SIGTERM, group=True)
            self._orphaned_groups.append(item.proc.pid)
            item.exits.append(now)
            delay = self.policy.delay_s(item.exits, now)
            if delay is None:
                log.error(
                    "%s exited (code %s) %s times within %ss; giving up",
                    item.spec.name,
                    code,
                    len(item.exits),
                    int(self.policy.window_s),
                )
                return False
            log.warning(
                "%s exited unexpectedly (code %s); restarting in %.0fs", item.spec.name, code, delay
            )
            item.restart_at = now + delay
            self._changed()
        return True

    def _restart_due(self) -> None:
        now = time.monotonic()
        for item in self.managed:
            if item.restart_at is not None and now >= item.restart_at:
                self._spawn(item)

    def _stop_all(self) -> None:
        live = [m.proc for m in self.managed if m.proc and m.proc.poll() is None]
        for proc in live:
            _signal(proc.pid, signal.SIGTERM, group=False)
        deadline = time.monotonic() + self.stop_timeout_s
        while any(p.poll() is None for p in live) and time.monotonic() < deadline:
            self._pump(POLL_INTERVAL_S)  # keep showing their shutdown messages
        for item in self.managed:
            if item.proc is None:
                continue
            if item.proc.poll() is None:
                log.warning(
                    "%s did not stop within %ss; killing it",
                    item.spec.name,
                    int(self.stop_timeout_s),
                )
            _signal(item.proc.pid, signal.SIGKILL, group=True)  # stragglers of the group too
            item.proc.wait()
        for group in self._orphaned_groups:
            _signal(group, signal.SIGKILL, group=True)
        drain_until = time.monotonic() + 1.0
        # Their last lines, up to end of file (the stop request's entry stays registered).
        while len(self._selector.get_map()) > 1 and time.monotonic() < drain_until:
            self._pump(0.1)
        for key in list(self._selector.get_map().values()):
            self._selector.unregister(key.fileobj)
            if key.data is not None:  # not the stop request's, which is its owner's
                key.fileobj.close()  # type: ignore[union-attr]


def _signal(pid: int, sig: signal.Signals, *, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # already gone
