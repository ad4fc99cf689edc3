"""A request to stop the stack, made by a signal (or another thread), that a selector waits on.

A Python signal handler runs in the main thread between two bytecodes, wherever that thread
is: inside a lock it holds, inside another handler's run. `make` passes a SIGTERM sent to its
process group on to its child, so the launcher gets it twice in a row; a handler that took a
lock (`threading.Event.set` does) deadlocked on itself the second time. So the handler here
only notes the signal in a plain attribute. The byte that wakes the supervisor's selector is
written by the interpreter's own C handler (`signal.set_wakeup_fd`), and the stopping, the
logging and everything else happen in the main loop once it sees the request. A second and a
third signal change nothing: the stop already under way goes on, in order.
"""

from __future__ import annotations

import contextlib
import os
import signal
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopRequest:
    """Set by SIGINT, SIGTERM or SIGHUP once `install`ed, or by `set()` from any thread."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self.signum: int | None = None
        self._requested = False

    def install(self) -> None:
        """Take over the stop signals (from the main thread, before any other thread starts)."""
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)

    def set(self) -> None:
        self._requested = True
        with contextlib.suppress(BlockingIOError):  # full: a wake-up is pending anyway
            os.write(self._write, b"\0")

    def is_set(self) -> bool:
        return self._requested or self.signum is not None

    def reason(self) -> str:
        """What asked for the stop: the signal's name, or "a stop request"."""
        return signal.Signals(self.signum).name if self.signum else "a stop request"

    def fileno(self) -> int:
        """Readable once a stop was requested (and after every further signal)."""
        return self._read

    def drain(self) -> None:
        """Read the wake-ups, so the selector waits again."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 512):
                pass

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # No lock, no I/O, no logging: see the module's docstring.
        if self.signum is None:
            self.signum = signum
