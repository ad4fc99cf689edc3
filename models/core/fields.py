"""Field types for everything a client sends: values PostgreSQL can store, or a field error.

The API's schemas and every job kind's params schema load input with these, never with
marshmallow's plain String, Integer, Email, Dict or Raw, so no string, number or JSON
document a client chose reaches the database in a form it refuses:

- `Text`: no NUL (text and jsonb cannot hold one) and no lone UTF-16 surrogate (a JSON
  escape like "\\ud800" decodes to one: it is not Unicode text, and nothing encodes it to
  UTF-8);
- `BigInt`: within a bigint, the widest integer column;
- `JsonValue`: a free-form JSON value whose strings and keys are all `Text`-clean and whose
  numbers are finite.

tests/api/core/test_input_fields.py walks every schema the API loads and every job kind's
params schema, and fails on a plain type.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields, validate

_NUL = "\x00"
_SURROGATE = re.compile("[\ud800-\udfff]")
BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1


def text_problem(text: str) -> str | None:
    """Why PostgreSQL could not store `text`, or None when it can."""
    if _NUL in text:
        return "must not contain NUL characters (\\u0000)"
    if _SURROGATE.search(text):
        return "must be Unicode text, without lone UTF-16 surrogates (\\ud800 to \\udfff)"
    return None


class Text(fields.String):
    """A string PostgreSQL can store (see text_problem)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if problem := text_problem(text):
            raise ValidationError(problem)
        return text


class Email(Text, fields.Email):
    """An e-mail address as typed (marshmallow's check of its form), storable."""


class Url(Text, fields.Url):
    """A URL (marshmallow's check of its form and schemes), storable."""


class BigInt(fields.Integer):
    """An integer a PostgreSQL bigint can hold; a field's own Range narrows it further."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.insert(0, validate.Range(min=BIGINT_MIN, max=BIGINT_MAX))


class JsonValue(fields.Raw):
    """Any JSON value jsonb can store: every string and key Text-clean, every number finite.

    Walked without recursion, so a value nested as deep as the JSON parser allows costs no
    stack (web.core.errors.JsonProvider limits the depth of every body).
    """

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        pending = [value]
        while pending:
            item = pending.pop()
            if isinstance(item, Mapping):
                pending.extend(item.keys())
                pending.extend(item.values())
            elif isinstance(item, list | tuple):
                pending.extend(item)
            elif isinstance(item, str):
                if problem := text_problem(item):
                    raise ValidationError(problem)
            elif isinstance(item, float) and not math.isfinite(item):
                raise ValidationError("numbers must be finite")
            elif item is not None and not isinstance(item, bool | int | float):
                raise ValidationError("must be a JSON value")
        return value
