"""The jobs API's schemas: what a submission (one, or a batch), a job, a page of jobs and an
event look like."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from models.core.base import utcnow
from models.core.jobs import JobStatus
from web.core.fields import BigInt, JsonValue, Text

MAX_RUN_AHEAD = timedelta(days=7)  # the Redis broker delays messages by at most 7 days
MAX_WAIT_S = 30
# An Idempotency-Key (the header of POST /api/v1/jobs, a field of each batch item).
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


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


# -- POST /api/v1/jobs/batch -----------------------------------------------------------------
MAX_BATCH_ITEMS = 500


class JobBatchItem(JobCreate):
    idempotency_key = Text(
        validate=validate.Regexp(
            IDEMPOTENCY_KEY, error="must be 1 to 200 printable ASCII characters"
        ),
        metadata={
            "description": "What the Idempotency-Key header is to POST /api/v1/jobs: a repeat "
            "answers the job the first request with it made."
        },
    )


@dataclass(frozen=True)
class ItemErrors:
    """A batch item that does not fit JobBatchItem: its errors, by field."""

    messages: dict[str, Any]


class BatchItems(fields.List):
    """A batch's items, each loaded on its own: one that does not fit is kept as its
    ItemErrors, so that the view can answer every item's problems at once, these and those
    its kind's schema finds, under details.items."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list):
            raise self.make_error("invalid")
        self._validate(value)  # the count first: no one makes us load a million items
        items: list[Any] = []
        for item in value:
            try:
                items.append(self.inner.deserialize(item, **kwargs))
            except ValidationError as error:
                messages = error.messages
                items.append(
                    ItemErrors(messages if isinstance(messages, dict) else {"_schema": messages})
                )
        return items


class JobBatchCreate(Schema):
    items = BatchItems(
        fields.Nested(JobBatchItem),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH_ITEMS),
        metadata={"description": "The jobs, each as POST /api/v1/jobs takes one."},
    )


class JobBatchRead(Schema):
    items = fields.List(
        fields.Nested(JobRead),
        required=True,
        metadata={"description": "The jobs, in the order of the request's items."},
    )
    replayed = fields.List(
        fields.Integer(),
        required=True,
        metadata={
            "description": "The positions (from 0) of the items answered with the job an "
            "earlier request made with their idempotency_key."
        },
    )
