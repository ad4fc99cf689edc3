"""The storable input types: what PostgreSQL could not hold is a field error."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import Schema, ValidationError

from models.core.fields import BIGINT_MAX, BIGINT_MIN, BigInt, Email, JsonValue, Text


class Sample(Schema):
    text = Text()
    number = BigInt()
    email = Email()
    doc = JsonValue()


def errors_of(**data: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        Sample().load(data)
    assert isinstance(caught.value.messages, dict)
    return caught.value.messages


@pytest.mark.parametrize("text", ["", "plain", "émoji 😀 and 中文", "tab\tand\nnewline", "\x7f"])
def test_text_takes_any_unicode_text_without_nul(text: str) -> None:
    assert Sample().load({"text": text}) == {"text": text}


@pytest.mark.parametrize(
    ("text", "reason"),
    [("a\x00b", "NUL"), ("\ud800", "surrogate"), ("tail \udfff", "surrogate")],
)
def test_text_refuses_what_postgresql_cannot_store(text: str, reason: str) -> None:
    assert reason in errors_of(text=text)["text"][0]


def test_an_email_is_text_and_an_address() -> None:
    assert Sample().load({"email": "fan@example.com"}) == {"email": "fan@example.com"}
    assert "NUL" in errors_of(email="fan\x00@example.com")["email"][0]
    assert errors_of(email="not an address")["email"]


@pytest.mark.parametrize("number", [BIGINT_MIN, -1, 0, BIGINT_MAX, "42"])
def test_a_bigint_takes_what_the_column_holds(number: Any) -> None:
    assert Sample().load({"number": number}) == {"number": int(number)}


@pytest.mark.parametrize("number", [BIGINT_MAX + 1, BIGINT_MIN - 1, 10**30, "1" + "0" * 5000])
def test_a_bigint_refuses_what_the_column_cannot_hold(number: Any) -> None:
    assert errors_of(number=number)["number"]


@pytest.mark.parametrize(
    "doc",
    [{"a": [1, 2.5, None, True, {"b": "c"}]}, [], "text", 3, 10**30, {"emoji": "😀"}],
)
def test_a_json_value_takes_any_json_jsonb_can_store(doc: Any) -> None:
    assert Sample().load({"doc": doc}) == {"doc": doc}


@pytest.mark.parametrize(
    "doc",
    [
        {"a": {"b": ["fine", "a\x00"]}},
        {"key\x00": 1},
        [[["\ud83d"]]],
        {"\udc00": "value"},
        {"a": float("nan")},
        [float("inf")],
        {"a": object()},
    ],
)
def test_a_json_value_refuses_anything_unstorable_however_deep(doc: Any) -> None:
    assert errors_of(doc=doc)["doc"]


def test_a_deep_json_value_is_walked_without_recursion() -> None:
    deep: Any = "a\x00"
    for _ in range(10_000):
        deep = [deep]

    assert "NUL" in errors_of(doc=deep)["doc"][0]
