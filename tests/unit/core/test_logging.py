"""Log lines: one record a line in either format, whatever the logged text holds."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from config.logging import JsonFormatter, TextFormatter

# What a client can put in a path, a header, an address or a job's params.
HOSTILE = [
    "\n12:00:00 INFO  backline.web.requests: GET /api/v1/admin 200",  # a forged record
    "\r12:00:00 INFO  forged over the start of the line",
    "\x1b[2J\x1b[1;1H",  # clears a terminal
    "\x85\u2028\u2029\x0b\x0c\x1c",  # what str.splitlines also takes for line breaks
    "evil\u202egnp.exe\u2066\u200b",  # bidi override, isolate, zero width
    "\x00\x7f\x9b",  # NUL, DEL, a C1 control
    "\ud800",  # a lone surrogate
]


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("backline.test", logging.INFO, __file__, 1, message, args, None)
    entry.__dict__.update(extra)
    return entry


@pytest.mark.parametrize("text", HOSTILE)
def test_a_text_log_record_stays_on_one_line_with_its_controls_escaped(text: str) -> None:
    line = TextFormatter().format(record("GET %s 404", "/api" + text, user_agent=text))

    assert len(line.splitlines()) == 1
    assert line.isprintable()
    assert line.count(" INFO  backline.test: GET /api") == 1


def test_escapes_are_readable_and_printable_text_is_left_alone() -> None:
    line = TextFormatter().format(
        record("GET %s 404", "/jobs\n\r\t\x1b\u202e", who="Zoë 山田 😀 \\n")
    )

    assert line.endswith("GET /jobs\\n\\r\\t\\x1b\\u202e 404 who=Zoë 山田 😀 \\n")


def test_a_traceback_is_indented_under_its_record_and_cannot_start_a_record() -> None:
    try:
        raise ValueError("bad input\n12:00:00 ERROR backline.web: forged\x1b[2J")
    except ValueError:
        entry = record("job failed", job_id="j1")
        entry.exc_info = sys.exc_info()

    first, *rest = TextFormatter().format(entry).split("\n")

    assert first.endswith("job failed job_id=j1")
    assert rest[0] == "  | Traceback (most recent call last):"
    assert rest[-2:] == [
        "  | ValueError: bad input",
        "  | 12:00:00 ERROR backline.web: forged\\x1b[2J",
    ]
    assert all(line.startswith("  | ") and line.isprintable() for line in rest)


@pytest.mark.parametrize("text", HOSTILE)
def test_a_json_log_record_is_one_line_of_ascii_that_reads_back_as_logged(text: str) -> None:
    try:
        raise ValueError(text)
    except ValueError:
        entry = record("GET %s 404", "/api" + text, user_agent=text)
        entry.exc_info = sys.exc_info()

    line = JsonFormatter().format(entry)

    assert len(line.splitlines()) == 1
    assert line.isascii() and line.isprintable()
    logged = json.loads(line)
    assert logged["event"] == f"GET /api{text} 404"
    assert logged["user_agent"] == text
    assert logged["exc"].endswith(f"ValueError: {text}")
