"""Mail templates: Jinja2 in its sandbox, with the recipient's and the organisation's fields.

A template that does not compile, or that fails on a sample recipient, is refused when it is
written or previewed (InvalidInput naming the part and the line), never found out while
sending. HTML parts are autoescaped; text parts are not (they are not markup).

A render is bounded, since it runs inside a web request and in the senders: no value (a string,
a list, a number's digits) past MAX_VALUE, no range past MAX_RANGE, at most MAX_STEPS loop
turns and calls, MAX_SECONDS of time and MAX_OUTPUT characters out. A template past a cap
fails like any other template error, naming the cap.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache, wraps
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

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


MAX_VALUE = 200_000  # characters of a string, items of a list, digits of a number
MAX_RANGE = 10_000  # items of a range()
MAX_STEPS = 100_000  # loop turns and calls in one render
MAX_SECONDS = 2.0  # time of one render
MAX_OUTPUT = 500_000  # characters a part renders to
_MAX_BITS = MAX_VALUE * 3  # about MAX_VALUE decimal digits
_WIDE_FORMAT = re.compile(r"\d{6,}")  # "%999999s", "{:>999999}": a field wider than MAX_VALUE


class TemplateLimit(Exception):  # noqa: N818 - the template's error, reported as such
    """A template went past one of the caps of a render."""


@dataclass
class _Budget:
    deadline: float
    steps: int = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TemplateLimit(f"more than {MAX_STEPS:,} loop turns and calls (MAX_STEPS)")
        if not self.steps % 256 and time.monotonic() > self.deadline:
            raise TemplateLimit(f"rendering took more than {MAX_SECONDS:g} s (MAX_SECONDS)")


_budget: ContextVar[_Budget | None] = ContextVar("mail_template_budget", default=None)


def _step() -> None:
    budget = _budget.get()
    if budget is not None:
        budget.step()


def _size(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value.bit_length() // 3
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        return len(value)
    return 0


def _guard(value: Any) -> Any:
    if _size(value) > MAX_VALUE:
        raise TemplateLimit(f"a value of more than {MAX_VALUE:,} characters or items (MAX_VALUE)")
    return value


def _too_big() -> TemplateLimit:
    return TemplateLimit(f"a value of more than {MAX_VALUE:,} characters or items (MAX_VALUE)")


def _check_args(value: Any, args: Iterable[Any]) -> None:
    """Refuse a call or a filter whose arguments would make a value past MAX_VALUE before it
    is made: a width, a count or a repeat past the cap, a wide format field."""
    if isinstance(value, str) and _WIDE_FORMAT.search(value):
        raise TemplateLimit(f"a format field wider than {MAX_VALUE:,} (MAX_VALUE)")
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_VALUE:
            raise _too_big()
        if isinstance(arg, str) and len(arg) * max(_size(value), 1) > MAX_VALUE * 10:
            raise _too_big()


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateLimit(f"a range of more than {MAX_RANGE:,} items (MAX_RANGE)")
    return numbers


def _bounded_filter(function: Any) -> Any:
    @wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _step()
        # The filter's value is its first argument (after the context or environment the
        # filter may be passed).
        values = [a for a in args if not isinstance(a, (Context, _BoundedSandbox))]
        value, rest = (values[0], values[1:]) if values else (None, [])
        _check_args(value, [*rest, *kwargs.values()])
        return _guard(function(*args, **kwargs))

    return bounded


class _Bounds(NodeTransformer):
    """Every loop's iterable counted turn by turn, every `~` concatenation's size checked."""

    def visit_For(self, node: nodes.For) -> nodes.Node:  # noqa: N802 - the visitor's name
        self.generic_visit(node)
        node.iter = nodes.Call(
            nodes.EnvironmentAttribute("counted"), [node.iter], [], None, None,
            lineno=node.lineno,
        )  # fmt: skip
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:  # noqa: N802
        self.generic_visit(node)
        return nodes.Call(
            nodes.EnvironmentAttribute("guarded"), [node], [], None, None, lineno=node.lineno
        )


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox (a template cannot change the dicts and lists it is given, which
    the code that rendered it shares) with the caps of a render."""

    intercepted_binops = frozenset(["*", "**", "+", "%"])

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _bounded_range
        self.filters = {name: _bounded_filter(f) for name, f in self.filters.items()}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = _Bounds().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree  # type: ignore[no-any-return]

    @staticmethod
    def counted(items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            _step()
            yield item

    @staticmethod
    def guarded(value: Any) -> Any:
        return _guard(value)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _step()
        numbers = all(isinstance(x, int) for x in (left, right))
        if operator == "*":
            if numbers:
                if left.bit_length() + right.bit_length() > _MAX_BITS:
                    raise _too_big()
            elif isinstance(left, int) or isinstance(right, int):
                count, sized = (left, right) if isinstance(left, int) else (right, left)
                if count * _size(sized) > MAX_VALUE:
                    raise _too_big()
        elif operator == "**":
            if numbers and right > 0 and max(left.bit_length(), 1) * right > _MAX_BITS:
                raise _too_big()
        elif operator == "+":
            if _size(left) + _size(right) > MAX_VALUE:
                raise _too_big()
        elif operator == "%" and isinstance(left, str):
            _check_args(left, ())
        return _guard(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _step()
        target = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped
        _check_args(getattr(target, "__self__", None), [*args, *kwargs.values()])
        return _guard(super().call(__context, __obj, *args, **kwargs))


@lru_cache(maxsize=2)
def _environment(html: bool) -> _BoundedSandbox:
    return _BoundedSandbox(autoescape=html, undefined=StrictUndefined, trim_blocks=True)


def _render(template: Any, context: dict[str, Any]) -> str:
    """The template rendered within the caps of a render."""
    token = _budget.set(_Budget(deadline=time.monotonic() + MAX_SECONDS))
    try:
        out: list[str] = []
        length = 0
        for chunk in template.generate(context):
            length += len(chunk)
            if length > MAX_OUTPUT:
                raise TemplateLimit(f"more than {MAX_OUTPUT:,} characters out (MAX_OUTPUT)")
            out.append(chunk)
        return "".join(out)
    finally:
        _budget.reset(token)


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
            out[name] = _render(_compiled(source, html), context)
        except TemplateSyntaxError as exc:
            raise _error(name, exc) from None
        # A template may fail in many ways at render time (an undefined name, 1/0, a
        # sandboxed attribute): each is the template's error, reported with its line.
        except Exception as exc:  # noqa: BLE001
            raise _error(name, exc) from None
    subject = " ".join((out["subject"] or "").split())  # one line, whatever the template did
    return Rendered(subject, out["text_body"] or "", out["html_body"])
