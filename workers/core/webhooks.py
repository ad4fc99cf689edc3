"""Processing signed callbacks: the handlers domains register, and the job that runs them.

A domain registers what it does with a source's events (the mail domain, bounces):

    @webhook_handler("resend", "email.bounced", "email.complained")
    def suppress(session: Session, event: ReceivedEvent, settings: Settings) -> None: ...

The handler runs inside the transaction that marks the event processed, so its writes and
the outcome commit together, once; jobs it submits in that session are sent after the
commit. It raises to fail the attempt (the job retries with backoff); an event whose type no
handler claims is stored and acknowledged as `ignored`, never failed. Several domains may
claim the same type (Stripe's `checkout.session.completed` serves billing and fans alike):
each runs, in the order registered, and each passes over what is not its own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from config import Settings
from models.core import webhooks as events
from models.core.jobs import NewJob, create_job
from models.core.webhooks import WebhookStatus
from workers.core.context import JobContext
from workers.core.enqueue import Dispatch, Dispatcher, validate_params
from workers.core.registry import get_kind, job_kind

PROCESS_KIND = "webhooks.process"
PROCESS_MAX_ATTEMPTS = 8
WILDCARD = "*"


@dataclass(frozen=True)
class ReceivedEvent:
    """A verified event as a handler sees it."""

    id: uuid.UUID
    source: str
    event_type: str
    message_id: str
    body: bytes
    received_at: datetime

    def json(self) -> Any:
        """The body parsed as JSON (ValueError if it is not JSON)."""
        return json.loads(self.body)


WebhookHandler = Callable[[Session, ReceivedEvent, Settings], Any]
_HANDLERS: dict[tuple[str, str], list[WebhookHandler]] = {}


def webhook_handler(source: str, *event_types: str) -> Callable[[WebhookHandler], WebhookHandler]:
    """Register the decorated function for `source`'s events of `event_types` ("*": all)."""

    def register(handler: WebhookHandler) -> WebhookHandler:
        for event_type in event_types or (WILDCARD,):
            claimed = _HANDLERS.setdefault((source, event_type), [])
            if handler in claimed:
                raise ValueError(f"a handler for {source} {event_type} is registered twice")
            claimed.append(handler)
        return handler

    return register


def handlers_for(source: str, event_type: str) -> list[WebhookHandler]:
    return _HANDLERS.get((source, event_type)) or _HANDLERS.get((source, WILDCARD)) or []


def submit_processing(
    *, session: Session, dispatcher: Dispatcher, event_id: uuid.UUID
) -> uuid.UUID:
    """Queue the job that processes the event `event_id` (stored, or stored next in the same
    transaction), sent once the caller commits. It is the platform's own job: operators see
    it, no organisation does."""
    kind = get_kind(PROCESS_KIND)
    assert kind is not None  # noqa: S101 - declared below, in this module
    new = NewJob(
        kind=kind.name,
        queue=kind.queue,
        params=validate_params(kind, {"event_id": str(event_id)}),
        max_attempts=kind.max_attempts,
        internal=True,
    )
    job, _ = create_job(session=session, owner_id=None, org_id=None, new=new)
    dispatcher.send_after_commit(session, Dispatch.of(job))
    return job.id


def process_event(
    *, session: Session, event_id: uuid.UUID, settings: Settings
) -> WebhookStatus | None:
    """Run the event's handler if it has not run; the event's outcome (None: gone)."""
    event = events.lock_event(session=session, event_id=event_id)
    if event is None or event.status != WebhookStatus.RECEIVED:
        return None if event is None else event.status  # a repeated delivery: done already
    handlers = handlers_for(event.source, event.event_type)
    if not handlers:
        events.finish(event, WebhookStatus.IGNORED)
        return WebhookStatus.IGNORED
    received = ReceivedEvent(
        id=event.id,
        source=event.source,
        event_type=event.event_type,
        message_id=event.message_id,
        body=event.body,
        received_at=event.received_at,
    )
    for handler in handlers:
        handler(session, received, settings)
    events.finish(event, WebhookStatus.PROCESSED)
    return WebhookStatus.PROCESSED


class ProcessParams(Schema):
    event_id = fields.UUID(required=True)


@job_kind(
    PROCESS_KIND,
    params=ProcessParams,
    queue="webhooks",
    admin_only=True,  # the platform submits it for each verified event
    counts_toward_quota=False,
    max_attempts=PROCESS_MAX_ATTEMPTS,
    time_limit_ms=60_000,
    min_backoff_ms=1000,
    max_backoff_ms=10 * 60 * 1000,
)
def process(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Process one signed callback with the handler its source and type registered."""
    event_id = uuid.UUID(str(params["event_id"]))
    try:
        with ctx.sessions.begin() as session:
            status = process_event(session=session, event_id=event_id, settings=ctx.settings)
    except Exception as exc:
        final = ctx.attempt >= PROCESS_MAX_ATTEMPTS
        with ctx.sessions.begin() as session:
            events.record_failure(
                session=session,
                event_id=event_id,
                error=f"{type(exc).__name__}: {exc}",
                final=final,
            )
        raise
    return {"event_id": str(event_id), "status": status.value if status else "gone"}
