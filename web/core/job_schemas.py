"""The jobs API's schemas: what a submission, a job, a page of jobs and an event look like."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from models.core.base import utcnow
from models.core.jobs import JobStatus
from web.core.fields import BigInt, JsonValue, Text

MAX_RUN_AHEAD = timedelta(days=7)  # the Redis broker delays messages by at most 7 days
MAX_WAIT_S = 30


class JobCreate(Schema):
    kind = Text(required=True, validate=validate.Length(min=1, max=100))
    params = fields.Dict(keys=Text(), values=JsonValue(), load_default=dict)
    run_at = fields.AwareDateTime(
        metadata={"description": "Start no earlier than this (≤ 7 days ahead)."}
    )
    priority = BigInt(load_default=0, validate=validate.Range(min=0, max=9))

    @validates_schema
    def _run_at_in_range(self, data: dict[str, Any], **_: Any) -> None:
        run_at = data.get("run_at")
        if run_at is not None and run_at > utcnow() + MAX_RUN_AHEAD:
            raise ValidationError("must be at most 7 days ahead", "run_at")


class Progress(Schema):
    done = fields.Integer()
    total = fields.Integer(allow_none=True)
    percent = fields.Float(allow_none=True)
    message = fields.String(allow_none=True)


class JobRead(Schema):
    id = fields.UUID(required=True)
    org_id = fields.UUID(required=True, metadata={"description": "The organization it is in."})
    owner_id = fields.UUID(required=True, metadata={"description": "Who submitted it."})
    kind = fields.String(required=True)
    status = fields.Enum(JobStatus, by_value=True, required=True)
    params = fields.Dict()
    result = fields.Raw(allow_none=True)
    error = fields.Function(
        lambda job: _public_error(job.error),
        allow_none=True,
        metadata={"description": "type, message, transient (tracebacks stay in the logs)"},
    )
    progress = fields.Nested(Progress)
    attempts = fields.Integer()
    max_attempts = fields.Integer()
    priority = fields.Integer()
    idempotency_key = fields.String(allow_none=True)
    cancel_requested = fields.Boolean()
    run_after = fields.DateTime()
    created_at = fields.DateTime()
    enqueued_at = fields.DateTime(allow_none=True)
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()


def _public_error(error: dict[str, Any] | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {k: v for k, v in error.items() if k != "traceback"}


class JobGetQuery(Schema):
    wait = fields.Float(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_WAIT_S),
        metadata={"description": "Hold the request up to this many seconds until the job changes."},
    )


class JobQuery(Schema):
    status = fields.Enum(JobStatus, by_value=True)
    kind = Text(validate=validate.Length(max=100))
    created_after = fields.AwareDateTime()
    created_before = fields.AwareDateTime()
    cursor = Text(validate=validate.Length(max=200))
    limit = BigInt(load_default=20, validate=validate.Range(min=1, max=100))


class JobPage(Schema):
    items = fields.List(fields.Nested(JobRead), required=True)
    next_cursor = fields.String(allow_none=True)


class EventRead(Schema):
    id = fields.Integer()
    type = fields.String()
    message = fields.String(allow_none=True)
    data = fields.Dict(allow_none=True)
    at = fields.DateTime()


class EventQuery(Schema):
    after = BigInt(load_default=0, validate=validate.Range(min=0))


class EventPage(Schema):
    items = fields.List(fields.Nested(EventRead), required=True)


class KindRead(Schema):
    name = fields.String()
    description = fields.String()
    queue = fields.String()
    max_attempts = fields.Integer()
    time_limit_ms = fields.Integer()
    admin_only = fields.Boolean()
    counts_toward_quota = fields.Boolean()
    requires_verified_email = fields.Boolean()
