"""Every schema that loads client input is built on the storable types (models.core.fields).

The schemas the API's views load (`@blp.arguments`) and every job kind's params schema are
walked, nested schemas, lists and mappings included: a plain String, Integer or Raw there
would let a NUL, a lone surrogate or an integer past a bigint through to PostgreSQL (a 500).
A new endpoint or job kind that forgets fails here, naming the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Flask
from marshmallow import Schema, fields

from models.core.fields import BigInt, JsonValue, Text
from workers.core.registry import load_kinds


def loaded_schemas(app: Flask) -> dict[str, Schema]:
    """The schemas the app's views load their arguments with, by view and location."""
    found: dict[str, Schema] = {}
    for endpoint, view in app.view_functions.items():
        view_class = getattr(view, "view_class", None)
        methods = sorted(view_class.methods or ()) if view_class else []
        handlers = [getattr(view_class, m.lower()) for m in methods] if view_class else [view]
        for handler in handlers:
            # flask-smorest keeps each @blp.arguments' schema on the view function
            arguments = getattr(handler, "_apidoc", {}).get("arguments", {})
            for parameter in arguments.get("parameters", []):
                schema = parameter["schema"]
                instance = schema() if isinstance(schema, type) else schema
                found[f"{endpoint} {handler.__name__} ({parameter['in']})"] = instance
    return found


def kind_schemas() -> dict[str, Schema]:
    return {f"job kind {name}": kind.schema for name, kind in load_kinds().items()}


def plain_fields(schema: Schema, where: str, seen: set[int] | None = None) -> Iterator[str]:
    seen = seen if seen is not None else set()
    if id(schema) in seen:
        return
    seen.add(id(schema))
    for name, field in schema.fields.items():
        if not field.dump_only:
            yield from _plain(field, f"{where}.{name}", seen)


def _plain(field: fields.Field, where: str, seen: set[int]) -> Iterator[str]:
    kind = type(field).__name__
    if isinstance(field, fields.Nested):
        nested: Any = field.schema
        yield from plain_fields(nested, where, seen)
    elif isinstance(field, fields.List):
        yield from _plain(field.inner, f"{where}[]", seen)
    elif isinstance(field, fields.Tuple):
        for i, inner in enumerate(field.tuple_fields):
            yield from _plain(inner, f"{where}[{i}]", seen)
    elif isinstance(field, fields.Mapping):
        for part, inner in (("keys", field.key_field), ("values", field.value_field)):
            if inner is None:
                yield f"{where} ({kind} without {part}=: anything goes)"
            else:
                yield from _plain(inner, f"{where}.{part}", seen)
    elif isinstance(field, fields.String) and not isinstance(field, Text):
        yield f"{where} ({kind}: use Text)"
    elif isinstance(field, fields.Integer) and not isinstance(field, BigInt):
        yield f"{where} ({kind}: use BigInt)"
    elif type(field) in (fields.Raw, fields.Function, fields.Method):
        yield f"{where} ({kind}: use JsonValue)"
    elif isinstance(field, fields.Float | fields.Decimal) and field.allow_nan:
        yield f"{where} ({kind} with allow_nan)"


def test_the_walk_finds_the_views_schemas_and_the_job_kinds(app: Flask) -> None:
    names = {type(schema).__name__ for schema in loaded_schemas(app).values()}
    kinds = kind_schemas()

    assert {"JobCreate", "JobQuery", "LoginRequest", "AdminQuery", "AuditQuery"} <= names
    assert "job kind email.send" in kinds


def test_the_walk_names_a_plain_field() -> None:
    class Careless(Schema):
        name = fields.String()
        count = fields.Integer()
        anything = fields.Dict()
        tags = fields.List(fields.String())
        fine = Text()
        doc = fields.Dict(keys=Text(), values=JsonValue())

    found = list(plain_fields(Careless(), "Careless"))

    assert found == [
        "Careless.name (String: use Text)",
        "Careless.count (Integer: use BigInt)",
        "Careless.anything (Dict without keys=: anything goes)",
        "Careless.anything (Dict without values=: anything goes)",
        "Careless.tags[] (String: use Text)",
    ]


def test_every_input_field_is_a_storable_type(app: Flask) -> None:
    schemas = {**loaded_schemas(app), **kind_schemas()}

    plain = [found for where, schema in schemas.items() for found in plain_fields(schema, where)]

    assert plain == []
