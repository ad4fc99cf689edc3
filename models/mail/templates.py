"""Mail templates: Jinja2 in its sandbox, with the recipient's and the organisation's fields.

A template that does not compile, or that fails on a sample recipient, is refused when it is
written or previewed (InvalidInput naming the part and the line), never found out while
sending. HTML parts are autoescaped; text parts are not (they are not markup).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from models.core.errors import InvalidInput

# What a template may use: {{ recipient.name }}, {{ org.name }}, {{ days_left }}...
# Never handed to a template itself: each render gets its own copy (sample_recipient()).
SAMPLE_RECIPIENT: dict[str, Any] = {
    "email": "fan@example.com",
    "name": "Sam Example",
    "first_name": "Sam",
    "country": "GB",
    "status": "free",
    "tags": ["vip"],
    "company_name": "Example Ltd",
    "domain": "example.com",
    "score": 80,
}


def sample_recipient() -> dict[str, Any]:
    """A fresh copy of the sample recipient, for one render."""
    return copy.deepcopy(SAMPLE_RECIPIENT)


@lru_cache(maxsize=2)
def _environment(html: bool) -> ImmutableSandboxedEnvironment:
    # Immutable: a template cannot change the dicts and lists it is given ({{ x.clear() }}),
    # which are shared with the code that rendered it.
    return ImmutableSandboxedEnvironment(
        autoescape=html, undefined=StrictUndefined, trim_blocks=True
    )


@dataclass(frozen=True)
class Parts:
    """A template's source: subject, text and (optionally) HTML."""

    subject: str
    text: str
    html: str | None


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


@lru_cache(maxsize=256)
def _compiled(source: str, html: bool) -> Any:
    return _environment(html).from_string(source)


def _line_of(exc: BaseException) -> int | None:
    """The template line an error happened on: Jinja2 puts the template's frames into the
    traceback under the file name "<template>"."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _error(part: str, exc: Exception) -> InvalidInput:
    line = _line_of(exc)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    text = f"line {line}: {message}" if line else message
    return InvalidInput(
        f"the {part} template has an error: {text}", details={"fields": {part: [text]}}
    )


def check(parts: Parts, extra: dict[str, Any] | None = None) -> Rendered:
    """Compile every part and render it for a sample recipient; InvalidInput with the line."""
    return render(parts, {"recipient": sample_recipient(), **_sample_extra(), **(extra or {})})


def _sample_extra() -> dict[str, Any]:
    return {
        "org": {"name": "Example Records"},
        "days_left": 7,
        "unsubscribe_url": "https://example.com/unsubscribe",
    }


def render(parts: Parts, context: dict[str, Any]) -> Rendered:
    """The parts rendered for one recipient (InvalidInput if a part fails)."""
    out: dict[str, str | None] = {}
    for name, source, html in (
        ("subject", parts.subject, False),
        ("text_body", parts.text, False),
        ("html_body", parts.html, True),
    ):
        if source is None:
            out[name] = None
            continue
        try:
            out[name] = _compiled(source, html).render(context)
        except TemplateSyntaxError as exc:
            raise _error(name, exc) from None
        # A template may fail in many ways at render time (an undefined name, 1/0, a
        # sandboxed attribute): each is the template's error, reported with its line.
        except Exception as exc:  # noqa: BLE001
            raise _error(name, exc) from None
    subject = " ".join((out["subject"] or "").split())  # one line, whatever the template did
    return Rendered(subject, out["text_body"] or "", out["html_body"])
