"""/api/v1/webhooks/<source>: signed callbacks in; /api/v1/admin/webhook-events: what came in.

A request is verified by its source's scheme (web/core/webhook_signatures.py), stored, and
handed to a job (workers/core/webhooks.py), so the sender hears 202 in milliseconds whatever
the processing does; a message seen before answers 200 and runs nothing. A request that does
not verify answers 401 with nothing that helps an attacker, and is counted in /metrics by
source and reason. A source is configured once its secrets are set; any other is a 404.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from config import Settings
from models.core import webhooks as events
from models.core.errors import AuthenticationFailed, NotFound
from models.core.fields import BigInt, Text
from models.core.webhooks import NewEvent, WebhookEvent, WebhookStatus
from web.core.auth import BEARER, admin_required
from web.core.context import db, platform
from web.core.metrics import record_webhook_signature_failure
from web.core.uploads import accepts_upload
from web.core.webhook_signatures import (
    QStash,
    Scheme,
    SendGrid,
    StandardWebhooks,
    Stripe,
    Unverified,
)
from workers.core.webhooks import submit_processing

log = logging.getLogger("backline.webhooks")

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/api/v1/webhooks",
    description="Signed callbacks from webhook senders (QStash, Stripe, Resend, SendGrid).",
)
admin_blp = Blueprint(
    "admin_webhooks",
    __name__,
    url_prefix="/api/v1/admin/webhook-events",
    description="Received webhook events and their outcome (platform admins).",
)


def sources(settings: Settings) -> dict[str, Scheme]:
    """The configured sources: each whose secrets are set, with its scheme."""
    tolerance = settings.webhook_tolerance_s
    found: dict[str, Scheme] = {}
    if settings.qstash_current_signing_key or settings.qstash_next_signing_key:
        found["qstash"] = QStash(
            settings.qstash_current_signing_key,
            settings.qstash_next_signing_key,
            settings.qstash_callback_url,
        )
    if settings.stripe_webhook_secrets:
        found["stripe"] = Stripe(settings.stripe_webhook_secrets, tolerance)
    if settings.resend_webhook_secrets:
        found["resend"] = StandardWebhooks(settings.resend_webhook_secrets, tolerance)
    if settings.sendgrid_webhook_public_keys:
        found["sendgrid"] = SendGrid(settings.sendgrid_webhook_public_keys, tolerance)
    return found


def _raw_body(cap: int) -> bytes:
    # The view is marked @accepts_upload: the JSON check let it through with `cap` as the
    # request's limit, so a declared length past it is a 413 already; a chunked body is cut
    # at the limit without a word, and one that filled it did not fit.
    body = request.get_data(cache=False)
    if request.content_length is None and len(body) >= cap:
        raise RequestEntityTooLarge()
    return body


# -- schemas ---------------------------------------------------------------------------------
class WebhookAccepted(Schema):
    id = fields.UUID(required=True, metadata={"description": "The stored event."})
    status = fields.String(
        required=True, metadata={"description": "accepted: new; duplicate: seen before."}
    )


class WebhookEventRead(Schema):
    id = fields.UUID(required=True)
    source = fields.String(required=True)
    message_id = fields.String(required=True)
    event_type = fields.String(required=True)
    status = fields.Enum(WebhookStatus, by_value=True, required=True)
    attempts = fields.Integer(required=True)
    error = fields.String(allow_none=True)
    job_id = fields.UUID(allow_none=True)
    size_bytes = fields.Function(lambda e: len(e.body), required=True)
    received_at = fields.DateTime(required=True)
    processed_at = fields.DateTime(allow_none=True)


class WebhookEventQuery(Schema):
    source = Text(validate=validate.Length(max=40))
    status = fields.Enum(WebhookStatus, by_value=True)
    cursor = Text(validate=validate.Length(max=200))
    limit = BigInt(load_default=50, validate=validate.Range(min=1, max=200))


class WebhookEventPage(Schema):
    items = fields.List(fields.Nested(WebhookEventRead), required=True)
    next_cursor = fields.String(allow_none=True)


class ReplayRead(Schema):
    event = fields.Nested(WebhookEventRead, required=True)
    job_id = fields.UUID(required=True)


# -- views -----------------------------------------------------------------------------------
@blp.route("/<string:source>", methods=["POST"])
@blp.response(202, WebhookAccepted)
@blp.alt_response(200, schema=WebhookAccepted, description="A message seen before: not run again.")
@blp.alt_response(401, description="The signature did not verify.")
@blp.alt_response(404, description="No such source is configured.")
@blp.alt_response(413, description="The body is past WEBHOOK_MAX_BODY_BYTES.")
@accepts_upload(lambda settings: settings.webhook_max_body_bytes)
def receive(source: str) -> Any:
    """Receive a signed callback: verified, stored, processed by a job"""
    settings = platform().settings
    scheme = sources(settings).get(source)
    if scheme is None:
        raise NotFound("no such webhook source")
    body = _raw_body(settings.webhook_max_body_bytes)
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        verified = scheme.verify(headers, body, time.time())
    except Unverified as exc:
        record_webhook_signature_failure(source, exc.reason)
        log.info("webhook refused", extra={"source": source, "reason": exc.reason})
        raise AuthenticationFailed("the request's signature did not verify") from None
    session = db()
    new = NewEvent(source, verified.message_id, verified.event_type, body, verified.token_id)
    # The job first, then the event naming it: one statement fewer than an UPDATE after. A
    # duplicate rolls both back, and the dispatcher drops the job's message with them.
    event_id = uuid.uuid4()
    job_id = submit_processing(session=session, dispatcher=platform().dispatcher, event_id=event_id)
    if events.store_event(session=session, new=new, event_id=event_id, job_id=job_id) is None:
        session.rollback()
        return {"id": _seen(source, verified.message_id), "status": "duplicate"}, 200
    session.commit()
    return {"id": event_id, "status": "accepted"}


def _seen(source: str, message_id: str) -> uuid.UUID | None:
    return db().scalar(
        select(WebhookEvent.id).where(
            WebhookEvent.source == source, WebhookEvent.message_id == message_id
        )
    )


@admin_blp.route("")
class WebhookEvents(MethodView):
    @admin_blp.arguments(WebhookEventQuery, location="query")
    @admin_blp.response(200, WebhookEventPage)
    @admin_blp.doc(security=BEARER)
    @admin_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Received webhook events, newest first, with their outcome"""
        items, next_cursor = events.list_events(
            session=db(),
            source=query.get("source"),
            status=query.get("status"),
            cursor=query.get("cursor"),
            limit=query["limit"],
        )
        return {"items": items, "next_cursor": next_cursor}


@admin_blp.route("/<uuid:event_id>/replay", methods=["POST"])
@admin_blp.response(202, ReplayRead)
@admin_blp.alt_response(409, description="The event is still waiting to be processed.")
@admin_blp.doc(security=BEARER)
@admin_required
def replay(event_id: uuid.UUID) -> dict[str, Any]:
    """Process a received event again (its handler runs once more)"""
    session = db()
    event = events.reopen_for_replay(session=session, event_id=event_id)
    job_id = submit_processing(session=session, dispatcher=platform().dispatcher, event_id=event.id)
    events.attach_job(session=session, event_id=event.id, job_id=job_id)
    session.commit()
    return {"event": event, "job_id": job_id}
