"""Schemas of the operators' API (web/core/ops.py)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from models.core.jobs import JobStatus
from models.core.ops import MAX_REDRIVE_BATCH
from web.core.fields import BigInt, Text
from web.core.job_schemas import EventRead, Progress

MAX_WINDOW_S = 24 * 3600


class Confirmed(Schema):
    """Every action's body: an explicit confirmation, so a stray POST does nothing."""

    confirm = fields.Boolean(
        required=True,
        validate=validate.Equal(True, error="must be true to carry out the action"),
        metadata={"description": "Must be true."},
    )
    reason = Text(
        validate=validate.Length(max=500), metadata={"description": "Kept in the audit log."}
    )


class RedriveBody(Confirmed):
    kind = Text(validate=validate.Length(min=1, max=100))
    job_ids = fields.List(fields.UUID(), validate=validate.Length(min=1, max=MAX_REDRIVE_BATCH))
    limit = BigInt(
        load_default=500,
        validate=validate.Range(min=1, max=MAX_REDRIVE_BATCH),
        metadata={"description": "At most this many jobs in this call (oldest failures first)."},
    )


class QueueRead(Schema):
    name = fields.String(required=True)
    depth = fields.Integer(
        allow_none=True, metadata={"description": "Messages the broker holds (delayed included)."}
    )
    queued = fields.Integer(attribute="counts.queued", metadata={"description": "Due, waiting."})
    delayed = fields.Integer(attribute="counts.delayed", metadata={"description": "Not yet due."})
    running = fields.Integer(attribute="counts.running", metadata={"description": "In flight."})
    dead_letter = fields.Integer(
        attribute="counts.dead_letter", metadata={"description": "Failed."}
    )
    retrying = fields.Integer(attribute="counts.retrying")
    paused = fields.Boolean(required=True)
    paused_at = fields.DateTime(allow_none=True)
    paused_by = fields.UUID(allow_none=True)
    pause_reason = fields.String(allow_none=True)


class QueueActionRead(Schema):
    queue = fields.Nested(QueueRead, required=True)
    changed = fields.Boolean(required=True)


class StatsQuery(Schema):
    window = BigInt(
        load_default=3600,
        validate=validate.Range(min=60, max=MAX_WINDOW_S),
        metadata={"description": "Seconds back from now."},
    )


class BucketRead(Schema):
    minute = fields.DateTime()
    succeeded = fields.Integer()
    failed = fields.Integer()
    cancelled = fields.Integer()
    failure_rate = fields.Float(allow_none=True, metadata={"description": "failed / finished."})


class LatencyRead(Schema):
    kind = fields.String()
    jobs = fields.Integer()
    wait_p50_s = fields.Float(allow_none=True)
    wait_p95_s = fields.Float(allow_none=True)
    run_p50_s = fields.Float(allow_none=True)
    run_p95_s = fields.Float(allow_none=True)


class StatsRead(Schema):
    window_s = fields.Integer()
    throughput = fields.List(fields.Nested(BucketRead))
    latency = fields.List(fields.Nested(LatencyRead))


class JobSummary(Schema):
    id = fields.UUID()
    kind = fields.String()
    queue = fields.String()
    status = fields.Enum(JobStatus, by_value=True)
    org_id = fields.UUID()
    owner_id = fields.UUID()
    attempts = fields.Integer()
    max_attempts = fields.Integer()
    progress = fields.Nested(Progress)
    worker_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    heartbeat_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    run_after = fields.DateTime()


class WorkerRead(Schema):
    worker_id = fields.String(attribute="presence.worker_id")
    host = fields.String(attribute="presence.host")
    pid = fields.Integer(attribute="presence.pid")
    queues = fields.List(fields.String(), attribute="presence.queues")
    started_at = fields.String(attribute="presence.started_at", metadata={"format": "date-time"})
    last_seen = fields.String(attribute="presence.last_seen", metadata={"format": "date-time"})
    jobs = fields.List(fields.Nested(JobSummary), metadata={"description": "Running now."})


class AdminJobQuery(Schema):
    id = fields.UUID()
    kind = Text(validate=validate.Length(max=100))
    queue = Text(validate=validate.Length(max=100))
    status = fields.List(fields.Enum(JobStatus, by_value=True), validate=validate.Length(max=5))
    org_id = fields.UUID()
    owner_id = fields.UUID()
    worker_id = Text(validate=validate.Length(max=200))
    created_after = fields.AwareDateTime()
    created_before = fields.AwareDateTime()
    cursor = Text(validate=validate.Length(max=200))
    limit = BigInt(load_default=50, validate=validate.Range(min=1, max=200))


class AdminJobPage(Schema):
    items = fields.List(fields.Nested(JobSummary), required=True)
    next_cursor = fields.String(allow_none=True)


SECRET_PARAMS = ("text", "html")


def _shown_params(job: Any) -> dict[str, Any]:
    """A job's params as operators see them: never the body of an internal (account) mail."""
    params = dict(job.params or {})
    if getattr(job, "internal", False):
        for name in SECRET_PARAMS:
            if name in params:
                params[name] = "[hidden: an account mail carries a token]"
    return params


class AdminJobRead(JobSummary):
    """Everything about a job, its error's traceback included (platform admins only)."""

    params = fields.Function(
        lambda job: _shown_params(job),
        metadata={"description": "An internal job's mail body is hidden: it carries a token."},
    )
    result = fields.Raw(allow_none=True)
    error = fields.Dict(allow_none=True)
    checkpoint = fields.Dict(allow_none=True)
    crashes = fields.Integer()
    priority = fields.Integer()
    internal = fields.Boolean()
    idempotency_key = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    message_id = fields.String(allow_none=True)
    cancel_requested = fields.Boolean()
    enqueued_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()


class AdminJobDetail(Schema):
    job = fields.Nested(AdminJobRead, required=True)
    events = fields.List(
        fields.Nested(EventRead), required=True, metadata={"description": "Oldest first."}
    )


class RedriveRead(Schema):
    redriven = fields.Integer(required=True)
    job_ids = fields.List(fields.UUID(), required=True)
    remaining = fields.Integer(
        required=True, metadata={"description": "Failed jobs (of the kind) still to re-drive."}
    )


class AuditQuery(Schema):
    cursor = BigInt(validate=validate.Range(min=1))
    limit = BigInt(load_default=50, validate=validate.Range(min=1, max=200))


class DeadLetterKindRead(Schema):
    kind = fields.String()
    queue = fields.String()
    jobs = fields.Integer()
    oldest_failed_at = fields.DateTime(allow_none=True)
    newest_failed_at = fields.DateTime(allow_none=True)


class AuditRead(Schema):
    id = fields.Integer()
    actor_id = fields.UUID(allow_none=True)
    actor_email = fields.String(
        allow_none=True, metadata={"description": "None once the account is deleted."}
    )
    action = fields.String()
    target = fields.String()
    details = fields.Dict()
    at = fields.DateTime()


class AuditPage(Schema):
    items = fields.List(fields.Nested(AuditRead), required=True)
    next_cursor = fields.Integer(allow_none=True)


class ScheduleRead(Schema):
    name = fields.String(required=True, metadata={"description": "The job kind it runs."})
    description = fields.String()
    queue = fields.String()
    every = fields.String(metadata={"description": "every N s, or a cron expression in UTC."})
    last_slot_at = fields.DateTime(
        allow_none=True,
        metadata={
            "description": "The latest slot dealt with: its job is last_job_id (none for the "
            "slot a new schedule was first seen in, which runs nothing)."
        },
    )
    last_job_id = fields.UUID(allow_none=True)
    last_job_status = fields.Enum(JobStatus, by_value=True, allow_none=True)
    next_slot_at = fields.DateTime()
