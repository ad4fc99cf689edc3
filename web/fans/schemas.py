"""The fans API's schemas: a fan as written and as read, list queries and pages."""

from __future__ import annotations

from datetime import date

from marshmallow import Schema, fields, validate

from models.core.fields import BigInt, Text
from models.fans.fans import FanStatus, Gender
from web.core.fields import EmailAddress

_TAG = Text(validate=validate.Length(min=1, max=50))


class FanWrite(Schema):
    """A fan's fields as a client sets them."""

    name = Text(required=True, validate=validate.Length(min=1, max=200))
    email = EmailAddress(required=True)
    phone = Text(allow_none=True, validate=validate.Length(max=40))
    country = Text(
        allow_none=True,
        validate=validate.Regexp(r"^[A-Z]{2}\Z", error="a two-letter country code: US, FR, NG"),
    )
    gender = Text(allow_none=True, validate=validate.OneOf([g.value for g in Gender]))
    age = BigInt(allow_none=True, validate=validate.Range(min=1, max=130))
    birth_year = BigInt(allow_none=True, validate=validate.Range(min=1880, max=date.today().year))
    status = Text(validate=validate.OneOf([s.value for s in FanStatus]))
    source = Text(validate=validate.Length(min=1, max=50))
    tags = fields.List(_TAG, validate=validate.Length(max=20))
    consent = fields.Boolean()


class FanUpdate(FanWrite):
    """The fields to change (loaded partial: the others stay as they are)."""


class FanRead(Schema):
    id = fields.UUID(required=True)
    name = fields.String(allow_none=True)
    email = fields.String(required=True)
    phone = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    gender = fields.String(allow_none=True)
    age = fields.Integer(allow_none=True)
    birth_year = fields.Integer(allow_none=True)
    status = fields.String(required=True)
    source = fields.String(required=True)
    tags = fields.List(fields.String(), required=True)
    consent = fields.Boolean(required=True)
    consent_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class FanQuery(Schema):
    search = Text(validate=validate.Length(min=1, max=200))
    status = Text(validate=validate.OneOf([s.value for s in FanStatus]))
    country = Text(validate=validate.Length(equal=2))
    source = Text(validate=validate.Length(max=50))
    gender = Text(validate=validate.OneOf([g.value for g in Gender]))
    tag = Text(validate=validate.Length(max=50))
    cursor = Text(validate=validate.Length(max=200))
    limit = BigInt(load_default=50, validate=validate.Range(min=1, max=200))


class FanPage(Schema):
    items = fields.List(fields.Nested(FanRead), required=True)
    next_cursor = fields.String(allow_none=True)


class Count(Schema):
    key = fields.String(required=True)
    fans = fields.Integer(required=True)


class WeekCount(Schema):
    week = fields.String(required=True, metadata={"description": "The Monday (ISO date)."})
    fans = fields.Integer(required=True)


class Insights(Schema):
    total = fields.Integer(required=True)
    by_country = fields.List(fields.Nested(Count), required=True)
    by_source = fields.List(fields.Nested(Count), required=True)
    by_status = fields.List(fields.Nested(Count), required=True)
    by_gender = fields.List(fields.Nested(Count), required=True)
    by_age = fields.List(fields.Nested(Count), required=True)
    growth_by_week = fields.List(fields.Nested(WeekCount), required=True)


class ImportRead(Schema):
    id = fields.UUID(required=True)
    filename = fields.String(required=True)
    size_bytes = fields.Integer(required=True)
    columns = fields.List(fields.String(), required=True)
    preview = fields.List(fields.Dict(), required=True, metadata={"description": "First rows."})
    mapping = fields.Dict(
        allow_none=True, metadata={"description": "Fan field → column (suggested until set)."}
    )
    status = fields.String(required=True)
    job_id = fields.UUID(allow_none=True)
    result = fields.Dict(allow_none=True)
    created_at = fields.DateTime(required=True)


class ImportStart(Schema):
    mapping = fields.Dict(
        keys=Text(validate=validate.Length(max=50)),
        values=Text(validate=validate.Length(max=200)),
        required=True,
        metadata={"description": 'Fan field → CSV column, e.g. {"email": "E-mail"}'},
    )
