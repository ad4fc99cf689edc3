"""Logging set-up: readable lines in development, one JSON object a line in production.

Structured fields are passed through `extra=` (for example `job_id`, `request_id`) and appear
as key=value pairs in text mode and as JSON keys in JSON mode.

A log line is one record, whatever a client sends. Much of what is logged comes from outside
(a request's path, an e-mail address, a job's error), and a line break in it would let the
sender write a record of their own, a terminal escape or a bidi override would let it hide or
reorder what a reader sees. The text format writes every character that is not printable as an
escape (`\\n`, `\\x1b`, `\\u202e`) and indents a traceback under its record (`  | `); the
JSON format gets the same from json.dumps, which escapes all of them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from config.settings import Settings

# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CONTINUATION = "  | "


def escape_controls(text: str) -> str:
    """`text` with every character that is not printable written as its escape: line breaks,
    the other C0 and C1 controls, format characters (bidi overrides, zero widths) and lone
    surrogates. Printable text, from any script, is left as it is."""
    if text.isprintable():  # the usual case, checked in C
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(char: str) -> str:
    return _ESCAPES.get(char) or char.encode("unicode_escape", "backslashreplace").decode()


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...`, for people: one line per record, with any
    traceback on indented lines below it."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        line = escape_controls(self.formatMessage(record))
        extras = " ".join(
            f"{escape_controls(str(k))}={escape_controls(str(v))}"
            for k, v in _extras(record).items()
        )
        if extras:
            line = f"{line} {extras}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for block in (record.exc_text, record.stack_info and self.formatStack(record.stack_info)):
            if block:
                line += "".join(
                    f"\n{_CONTINUATION}{escape_controls(part)}" for part in block.splitlines()
                )
        return line


HANDLER_NAME = "backline"


def configure_logging(settings: Settings) -> None:
    """Install the formatter the settings ask for on the root logger."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    # Replace our own handler (configuring twice must not print twice); leave others' alone.
    root.handlers[:] = [h for h in root.handlers if h.get_name() != HANDLER_NAME] + [handler]
    root.setLevel(settings.log_level)
