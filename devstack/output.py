"""Interleaved output of several processes, each line prefixed with its padded name.

Like honcho and foreman: `api       | GET /api/openapi.json 200`. Names are coloured only when
the output is a terminal, so logs piped to a file stay plain.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TextIO

# Bright ANSI colours that read on dark and light terminals alike.
_COLOURS = (36, 33, 32, 35, 34, 91, 96, 93)
_RESET = "\033[0m"


class Printer:
    """Writes lines under a name; thread-safe, since the mail sink logs from its own thread."""

    def __init__(self, names: list[str], out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.width = max(len(name) for name in names)
        self.colour = self.out.isatty()
        self._colours: dict[str, int] = {}
        self._lock = threading.Lock()
        for name in names:
            self._colour_of(name)

    def _colour_of(self, name: str) -> int:
        if name not in self._colours:
            self._colours[name] = _COLOURS[len(self._colours) % len(_COLOURS)]
        return self._colours[name]

    def knows(self, name: str) -> bool:
        return name in self._colours

    def prefix(self, name: str) -> str:
        label = f"{name:<{self.width}} | "
        if not self.colour:
            return label
        return f"\033[{self._colour_of(name)}m{label}{_RESET}"

    def line(self, name: str, text: str) -> None:
        prefix = self.prefix(name)
        with self._lock:
            self.out.write(prefix + text.rstrip("\r\n") + "\n")
            self.out.flush()


class PrinterHandler(logging.Handler):
    """Routes the launcher's own log records through the printer, under their logger's name.

    `devstack.mail` prints as `mail`; `devstack` itself and anything else as `devstack`.
    """

    def __init__(self, printer: Printer) -> None:
        super().__init__()
        self.printer = printer
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            name = record.name.removeprefix("devstack.")
            self.printer.line(name if self.printer.knows(name) else "devstack", self.format(record))
        except Exception:  # noqa: BLE001 - a logging handler must never raise
            self.handleError(record)


class LineSplitter:
    """Turns the chunks read from a pipe into whole lines, keeping a trailing partial line."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[str]:
        data = self._pending + chunk
        *lines, self._pending = data.split(b"\n")
        return [line.decode("utf-8", "replace") for line in lines]

    def flush(self) -> list[str]:
        rest, self._pending = self._pending, b""
        return [rest.decode("utf-8", "replace")] if rest else []
