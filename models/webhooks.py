"""Outbound webhooks: the endpoints an organisation registers, and each delivery to them.

A delivery is one message to one endpoint. Its `msg_id` (the `webhook-id` header) stays the
same across retries, as the Standard Webhooks spec asks, so a receiver can recognise a
repeat; its attempts are logged with status code and timing. Retries follow the spec's
schedule (about a day in all); only a 2xx counts; 410 Gone disables the endpoint; an
endpoint whose deliveries keep failing is disabled after ENDPOINT_FAILURE_LIMIT in a row.
Secrets are `whsec_` + base64 of 32 random bytes, shown once; a rotated endpoint signs with
the new and the old secret for ROTATION_OVERLAP, so receivers can switch without a gap.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import random
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.core.base import Base, now_ts, utcnow, uuid_pk
from models.core.errors import Conflict, InvalidInput, NotFound
from models.core.jobs.feed import Cursor, FeedEvent, org_cursor_now, org_events

# The spec's retry schedule, after the first attempt (seconds), each with jitter.
RETRY_SCHEDULE_S = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
JITTER = 0.2
ENDPOINT_FAILURE_LIMIT = 5  # deliveries given up in a row
ROTATION_OVERLAP = timedelta(hours=24)
MAX_ENDPOINTS_PER_ORG = 20
MAX_PAYLOAD_BYTES = 20_000
JOB_EVENTS = ("job.succeeded", "job.failed", "job.cancelled")


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # the schedule ran out, or the endpoint is gone


DELIVERY_STATUS = Enum(
    DeliveryStatus, name="webhook_delivery_status", values_callable=lambda e: [m.value for m in e]
)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_org_id", "org_id", "created_at"),)

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[now_ts]

    def signing_secrets(self, now: datetime | None = None) -> list[str]:
        found = [self.secret]
        until = self.previous_secret_until
        if self.previous_secret and until is not None and until > (now or utcnow()):
            found.append(self.previous_secret)
        return found


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "created_at"),)

    id: Mapped[uuid_pk]
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    msg_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[DeliveryStatus] = mapped_column(
        DELIVERY_STATUS, server_default=DeliveryStatus.PENDING.value
    )
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[now_ts]


class WebhookAttempt(Base):
    """One try of a delivery: the delivery log."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_id", "delivery_id", "attempt"),)

    id: Mapped[uuid_pk]
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[now_ts]


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


# -- endpoints -------------------------------------------------------------------------------
def create_endpoint(
    *, session: Session, org_id: uuid.UUID, url: str, events: list[str]
) -> WebhookEndpoint:
    count = len(
        list(session.scalars(select(WebhookEndpoint.id).where(WebhookEndpoint.org_id == org_id)))
    )
    if count >= MAX_ENDPOINTS_PER_ORG:
        raise Conflict(
            f"an organization may have {MAX_ENDPOINTS_PER_ORG} webhook endpoints",
            details={"limit": MAX_ENDPOINTS_PER_ORG},
        )
    if not url.startswith(("https://", "http://")):
        raise InvalidInput("the URL must be http(s)", details={"fields": {"url": ["not http(s)"]}})
    endpoint = WebhookEndpoint(
        org_id=org_id, url=url, events=sorted(set(events)), secret=new_secret()
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def endpoint_of(*, session: Session, org_id: uuid.UUID, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """One of the organisation's endpoints (another organisation's is a NotFound)."""
    endpoint = session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.org_id == org_id
        )
    )
    if endpoint is None:
        raise NotFound("webhook endpoint not found", details={"endpoint_id": str(endpoint_id)})
    return endpoint


def endpoints_of(*, session: Session, org_id: uuid.UUID) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.org_id == org_id)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
    )


def rotate_secret(*, session: Session, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = utcnow() + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    session.flush()
    return endpoint


def enable(*, session: Session, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    endpoint.enabled = True
    endpoint.disabled_reason = None
    endpoint.consecutive_failures = 0
    session.flush()
    return endpoint


def disable(endpoint: WebhookEndpoint, reason: str) -> None:
    endpoint.enabled = False
    endpoint.disabled_reason = reason


# -- deliveries ------------------------------------------------------------------------------
def deliveries_for(
    *,
    session: Session,
    org_id: uuid.UUID,
    event_type: str,
    data: dict[str, Any],
    key: str | None = None,
) -> list[uuid.UUID]:
    """A delivery of the event to each enabled endpoint of the organisation that wants it.

    With `key` (the event's own id), the message id is derived from it, so notifying the
    same event twice makes no second delivery."""
    endpoints = session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.org_id == org_id,
            WebhookEndpoint.enabled.is_(True),
            WebhookEndpoint.events.contains([event_type]),
        )
    )
    payload = {"type": event_type, "timestamp": utcnow().isoformat(), "data": data}
    rows = [
        {
            "endpoint_id": e.id,
            "msg_id": _msg_id(e.id, key),
            "event_type": event_type,
            "payload": payload,
            "next_attempt_at": utcnow(),
        }
        for e in endpoints
    ]
    if not rows:
        return []
    inserted = session.scalars(
        insert(WebhookDelivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[WebhookDelivery.msg_id])
        .returning(WebhookDelivery.id)
    )
    return list(inserted)


def _msg_id(endpoint_id: uuid.UUID, key: str | None) -> str:
    if key is None:
        return f"msg_{uuid.uuid4().hex}"
    return "msg_" + hashlib.sha256(f"{endpoint_id}:{key}".encode()).hexdigest()[:32]


def delivery_of(*, session: Session, org_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery:
    found = session.scalar(
        select(WebhookDelivery)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.id == delivery_id, WebhookEndpoint.org_id == org_id)
    )
    if found is None:
        raise NotFound("delivery not found", details={"delivery_id": str(delivery_id)})
    return found


def log_of(
    *, session: Session, endpoint: WebhookEndpoint, limit: int = 50
) -> list[WebhookDelivery]:
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def next_delay_s(attempts: int, retry_after_s: float | None = None) -> float | None:
    """The wait before the next try after `attempts` failed ones (None: give up)."""
    if attempts > len(RETRY_SCHEDULE_S):
        return None
    base = RETRY_SCHEDULE_S[attempts - 1]
    delay = base * (1 + random.uniform(-JITTER, JITTER))  # noqa: S311 - jitter, not secrecy
    return max(delay, retry_after_s or 0.0)


def lock_delivery(*, session: Session, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    return session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )


def record_attempt(
    *,
    session: Session,
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    status_code: int | None,
    duration_ms: int,
    error: str | None,
    retry_after_s: float | None,
) -> float | None:
    """Log one try and decide what follows; the delay before the next try (None: none)."""
    delivery.attempts += 1
    delivery.last_status_code = status_code
    delivery.last_error = error[:2000] if error else None
    delivery.last_duration_ms = duration_ms
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            attempt=delivery.attempts,
            status_code=status_code,
            duration_ms=duration_ms,
            error=delivery.last_error,
        )
    )
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = utcnow()
        delivery.next_attempt_at = None
        endpoint.consecutive_failures = 0
        return None
    delay = None if status_code == 410 else next_delay_s(delivery.attempts, retry_after_s)
    if status_code == 410:
        disable(endpoint, "the endpoint answered 410 Gone")
    if delay is None:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        endpoint.consecutive_failures += 1
        if endpoint.enabled and endpoint.consecutive_failures >= ENDPOINT_FAILURE_LIMIT:
            disable(endpoint, f"{ENDPOINT_FAILURE_LIMIT} deliveries in a row failed")
        return None
    delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)
    return delay


def redeliver(*, session: Session, delivery: WebhookDelivery) -> WebhookDelivery:
    """Try a delivery again by hand (same message id: receivers recognise a repeat)."""
    if delivery.status == DeliveryStatus.PENDING:
        raise Conflict(
            "the delivery is still being tried", details={"delivery_id": str(delivery.id)}
        )
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = utcnow()
    session.flush()
    return delivery


# -- job notifications -----------------------------------------------------------------------
class WebhookJobFeed(Base):
    """Where the job notifications of an organisation have got to in its job feed."""

    __tablename__ = "webhook_job_feeds"

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    cursor: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[now_ts] = mapped_column(onupdate=func.now())


def orgs_wanting_job_events(*, session: Session) -> list[uuid.UUID]:
    """Organisations with an enabled endpoint that subscribed to a job event."""
    return list(
        session.scalars(
            select(WebhookEndpoint.org_id)
            .where(
                WebhookEndpoint.enabled.is_(True),
                WebhookEndpoint.events.overlap(list(JOB_EVENTS)),
            )
            .distinct()
        )
    )


def job_changes(*, session: Session, org_id: uuid.UUID) -> list[FeedEvent]:
    """The organisation's jobs' finishing events since the last call (the first call starts
    from now), its place in the feed moved on in the caller's transaction."""
    feed = session.get(WebhookJobFeed, org_id, with_for_update=True)
    if feed is None:
        start = org_cursor_now(session=session, org_id=org_id)
        session.add(WebhookJobFeed(org_id=org_id, cursor=str(start)))
        session.flush()
        return []
    events, cursor = org_events(session=session, org_id=org_id, cursor=Cursor.parse(feed.cursor))
    feed.cursor = str(cursor)
    finished = {t.removeprefix("job.") for t in JOB_EVENTS}
    return [e for e in events if e.type in finished]
