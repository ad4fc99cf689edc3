"""Outbound webhooks: sending an organisation's notifications to its endpoints, signed as the
Standard Webhooks spec says, retried on its schedule (models/webhooks.py has the rules).

Domains notify through `notify(...)` in the transaction that made the event happen; each
delivery is a `webhooks.deliver` job that makes one attempt and, when it must try again,
submits the next attempt's job for later. Requests go through the public-only client
(workers/clients/outbound.py): no private, loopback or link-local address, checked after DNS
resolution, unless OUTBOUND_ALLOWED_NETWORKS allows it; a 15 s timeout; a response read to
at most RESPONSE_CAP_BYTES; redirects are not followed (a 3xx is a failure).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from marshmallow import Schema, fields
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import webhooks as outbound
from models.core.access import Role
from models.core.base import utcnow
from models.core.jobs import NewJob, create_job
from models.orgs import Membership
from models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from workers.clients.outbound import public_client
from workers.core.context import JobContext
from workers.core.enqueue import Dispatch, Dispatcher, validate_params
from workers.core.periodic import periodic
from workers.core.registry import get_kind, job_kind

DELIVER_KIND = "webhooks.deliver"
TIMEOUT_S = 15.0
RESPONSE_CAP_BYTES = 64 * 1024
SLOW_DOWN = (429, 502, 503, 504)


def sign(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: a `v1,<base64>` entry per secret, space-separated."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(_key(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets
    )


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def notify(
    *,
    session: Session,
    dispatcher: Dispatcher,
    org_id: uuid.UUID,
    event_type: str,
    data: dict[str, Any],
    key: str | None = None,
) -> list[uuid.UUID]:
    """Send `event_type` to every endpoint of the organisation that subscribed to it, once
    the caller commits; the deliveries' ids. A `key` (the event's own id) makes a repeated
    notification of the same event a no-op."""
    made = outbound.deliveries_for(
        session=session, org_id=org_id, event_type=event_type, data=data, key=key
    )
    for delivery_id in made:
        schedule(session=session, dispatcher=dispatcher, delivery_id=delivery_id)
    return made


def schedule(
    *, session: Session, dispatcher: Dispatcher, delivery_id: uuid.UUID, delay_s: float = 0
) -> uuid.UUID:
    kind = get_kind(DELIVER_KIND)
    assert kind is not None  # noqa: S101 - declared below
    run_at = utcnow() + timedelta(seconds=delay_s) if delay_s > 0 else None
    new = NewJob(
        kind=kind.name,
        queue=kind.queue,
        params=validate_params(kind, {"delivery_id": str(delivery_id)}),
        max_attempts=kind.max_attempts,
        run_at=run_at,
        internal=True,
    )
    job, _ = create_job(session=session, owner_id=None, org_id=None, new=new)
    delay_ms = int(delay_s * 1000) if delay_s > 0 else None
    dispatcher.send_after_commit(session, Dispatch.of(job, delay_ms=delay_ms))
    return job.id


def _retry_after_s(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(raw) - utcnow()).total_seconds())
        except (TypeError, ValueError):
            return None


def post(
    settings: Any, url: str, secrets: list[str], msg_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """One attempt: the status code (None: no answer), timing, error and Retry-After."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    timestamp = int(time.time())  # new on every attempt, as the spec says
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secrets, msg_id, timestamp, body),
        "user-agent": "Backline-Webhooks/1",
    }
    started = time.monotonic()
    result: dict[str, Any] = {"status_code": None, "error": None, "retry_after_s": None}
    try:
        with (
            public_client(settings, timeout=TIMEOUT_S, follow_redirects=False) as client,
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            read = 0
            for chunk in response.iter_bytes():
                read += len(chunk)
                if read > RESPONSE_CAP_BYTES:
                    break  # the answer's body is not needed: its status is
            result["status_code"] = response.status_code
            if response.status_code in SLOW_DOWN:
                result["retry_after_s"] = _retry_after_s(response)
    except httpx.HTTPError as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[:500]
    result["duration_ms"] = int((time.monotonic() - started) * 1000)
    return result


def _mail_owners(session: Session, ctx: JobContext, endpoint: WebhookEndpoint) -> None:
    owners = session.scalars(
        select(Membership).where(
            Membership.org_id == endpoint.org_id, Membership.role == Role.OWNER
        )
    )
    emails = [m.user.email for m in owners]
    kind = get_kind("email.send")
    if not emails or kind is None:
        return
    params = {
        "to": emails,
        "subject": "A webhook endpoint was disabled",
        "text": (
            f"Backline stopped sending webhooks to {endpoint.url}: {endpoint.disabled_reason}.\n"
            f"Fix the endpoint, then enable it again (endpoint id {endpoint.id})."
        ),
    }
    new = NewJob(
        kind=kind.name,
        queue=kind.queue,
        params=validate_params(kind, params),
        max_attempts=kind.max_attempts,
        internal=True,
    )
    job, _ = create_job(session=session, owner_id=None, org_id=None, new=new)
    ctx.dispatcher.send_after_commit(session, Dispatch.of(job))


class DeliverParams(Schema):
    delivery_id = fields.UUID(required=True)


@job_kind(
    DELIVER_KIND,
    params=DeliverParams,
    queue="webhooks",
    admin_only=True,  # the platform submits it for each delivery
    counts_toward_quota=False,
    max_attempts=3,  # the spec's retries are new jobs; these are for a lost worker
    time_limit_ms=60_000,
)
def deliver(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Send one webhook delivery to its endpoint (one attempt; the next one is scheduled)."""
    delivery_id = uuid.UUID(str(params["delivery_id"]))
    with ctx.sessions() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return {"skipped": True}
        endpoint = session.get_one(WebhookEndpoint, delivery.endpoint_id)
        if not endpoint.enabled:
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = "the endpoint is disabled"
            session.commit()
            return {"skipped": True}
        target = (endpoint.url, endpoint.signing_secrets(), delivery.msg_id, delivery.payload)
    outcome = post(ctx.settings, *target)  # no connection held while the endpoint answers
    with ctx.sessions.begin() as session:
        delivery = outbound.lock_delivery(session=session, delivery_id=delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return {"skipped": True}
        endpoint = session.get_one(WebhookEndpoint, delivery.endpoint_id, with_for_update=True)
        was_enabled = endpoint.enabled
        delay = outbound.record_attempt(
            session=session,
            delivery=delivery,
            endpoint=endpoint,
            status_code=outcome["status_code"],
            duration_ms=outcome["duration_ms"],
            error=outcome["error"],
            retry_after_s=outcome["retry_after_s"],
        )
        if delay is not None:
            schedule(
                session=session, dispatcher=ctx.dispatcher, delivery_id=delivery_id, delay_s=delay
            )
        if was_enabled and not endpoint.enabled:
            _mail_owners(session, ctx, endpoint)
        return {"status": delivery.status.value, "status_code": outcome["status_code"]}


@periodic(
    "webhooks.job_notifications",
    every_s=10,
    queue="webhooks",
    max_attempts=1,  # the next slot reads on from the same place
    time_limit_ms=60_000,
)
def job_notifications(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Notify the endpoints subscribed to job.succeeded/failed/cancelled of their jobs' ends."""
    with ctx.sessions() as session:
        orgs = outbound.orgs_wanting_job_events(session=session)
    sent = 0
    for org_id in orgs:
        with ctx.sessions.begin() as session:
            for event in outbound.job_changes(session=session, org_id=org_id):
                sent += len(
                    notify(
                        session=session,
                        dispatcher=ctx.dispatcher,
                        org_id=org_id,
                        event_type=f"job.{event.type}",
                        data={
                            "job_id": str(event.job_id),
                            "kind": event.kind,
                            "at": event.at.isoformat(),
                        },
                        key=f"job_event:{event.id}",
                    )
                )
    return {"organizations": len(orgs), "deliveries": sent}
