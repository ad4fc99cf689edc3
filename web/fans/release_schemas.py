"""The releases API's schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from models.core.fields import BigInt, Text
from models.fans.releases import ReleaseStatus, ReleaseType

_NAME = Text(validate=validate.Length(min=1, max=200))
_NAMES = fields.List(_NAME, load_default=list, validate=validate.Length(max=20))


class Credits(Schema):
    producers = fields.List(_NAME, load_default=list, validate=validate.Length(max=20))
    performers = fields.List(_NAME, load_default=list, validate=validate.Length(max=50))


class TrackWrite(Schema):
    title = Text(required=True, validate=validate.Length(min=1, max=200))
    artists = _NAMES
    featured_artists = _NAMES
    songwriters = _NAMES
    credits = fields.Nested(Credits, load_default=dict)
    genre = Text(allow_none=True, validate=validate.Length(max=100))
    isrc = Text(allow_none=True, validate=validate.Length(max=15))
    lyrics = Text(allow_none=True, validate=validate.Length(max=20_000))


class TrackRead(TrackWrite):
    position = fields.Integer(required=True)


class ReleaseWrite(Schema):
    type = Text(required=True, validate=validate.OneOf([t.value for t in ReleaseType]))
    title = Text(required=True, validate=validate.Length(min=1, max=200))
    artist_name = Text(required=True, validate=validate.Length(min=1, max=200))
    genre = Text(allow_none=True, validate=validate.Length(max=100))
    release_date = fields.Date(allow_none=True)
    upc = Text(allow_none=True, validate=validate.Length(max=14))
    tracks = fields.List(fields.Nested(TrackWrite), load_default=list)


class ReleaseUpdate(ReleaseWrite):
    """The fields to change (loaded partial); `tracks`, when given, replaces them all."""


class FileRead(Schema):
    id = fields.UUID(required=True)
    kind = fields.String(required=True)
    position = fields.Integer(required=True)
    filename = fields.String(required=True)
    size_bytes = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "pending, passed, failed"})
    problem = fields.String(allow_none=True)
    details = fields.Dict(required=True)
    created_at = fields.DateTime(required=True)


class ReleaseEventRead(Schema):
    from_status = fields.String(allow_none=True)
    to_status = fields.String(required=True)
    actor_id = fields.UUID(allow_none=True)
    reason = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)


class ReleaseRead(Schema):
    id = fields.UUID(required=True)
    type = fields.String(required=True)
    title = fields.String(required=True)
    artist_name = fields.String(required=True)
    genre = fields.String(allow_none=True)
    release_date = fields.Date(allow_none=True)
    upc = fields.String(allow_none=True)
    status = fields.String(required=True)
    rejection_reason = fields.String(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    tracks = fields.List(fields.Nested(TrackRead), required=True)
    history = fields.List(fields.Nested(ReleaseEventRead), required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class ReleaseDetail(ReleaseRead):
    files = fields.List(fields.Nested(FileRead), required=True)


class ReleaseQuery(Schema):
    status = Text(validate=validate.OneOf([s.value for s in ReleaseStatus]))
    cursor = Text(validate=validate.Length(max=200))
    limit = BigInt(load_default=50, validate=validate.Range(min=1, max=100))


class ReleasePage(Schema):
    items = fields.List(fields.Nested(ReleaseRead), required=True)
    next_cursor = fields.String(allow_none=True)


class ReviewQueue(Schema):
    items = fields.List(fields.Nested(ReleaseRead), required=True)


class Rejection(Schema):
    reason = Text(required=True, validate=validate.Length(min=1, max=2000))


class FileUrl(Schema):
    url = fields.String(required=True)
    expires_at = fields.DateTime(required=True)
