"""Signed callbacks received from webhook senders: stored once, then processed by a job.

A verified request becomes one row, unique by (source, message id): the sender's retries and
anyone replaying a captured request find the row already there and nothing runs twice. A
QStash token's `jti` is unique as well (its message id travels in an unsigned header, so a
replay could otherwise pass itself off as a new message). The processing job reads the row
under a lock, runs the handler its domain registered and records the outcome in the same
transaction as the handler's own writes: an event is processed exactly once however often
its job is delivered.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, Index, Integer, LargeBinary, String, Text, select, text, update
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.core.base import Base, now_ts, utcnow, uuid_pk
from models.core.errors import Conflict, NotFound
from models.core.pages import newest_first

MAX_ERROR_CHARS = 2000


class WebhookStatus(enum.StrEnum):
    RECEIVED = "received"  # stored, its job queued
    PROCESSED = "processed"  # a handler ran and its writes committed
    IGNORED = "ignored"  # no handler for its type: stored and acknowledged, not failed
    FAILED = "failed"  # the handler failed on the job's last attempt


STATUS_TYPE = Enum(
    WebhookStatus, name="webhook_status", values_callable=lambda e: [m.value for m in e]
)


class WebhookEvent(Base):
    __tablename__ = "webhook_events"
    __table_args__ = (
        Index("uq_webhook_events_message", "source", "message_id", unique=True),
        Index(
            "uq_webhook_events_token",
            "source",
            "token_id",
            unique=True,
            postgresql_where=text("token_id IS NOT NULL"),
        ),
        # The admin list: newest first, optionally by source or status.
        Index("ix_webhook_events_received", "received_at", "id"),
        Index("ix_webhook_events_source_received", "source", "received_at", "id"),
        Index("ix_webhook_events_status_received", "status", "received_at", "id"),
    )

    id: Mapped[uuid_pk]
    source: Mapped[str] = mapped_column(String(40))
    message_id: Mapped[str] = mapped_column(String(200))
    token_id: Mapped[str | None] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(200))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[WebhookStatus] = mapped_column(
        STATUS_TYPE, server_default=WebhookStatus.RECEIVED.value
    )
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    received_at: Mapped[now_ts]
    processed_at: Mapped[datetime | None]


@dataclass(frozen=True)
class NewEvent:
    source: str
    message_id: str
    event_type: str
    body: bytes
    token_id: str | None = None


def store_event(
    *,
    session: Session,
    new: NewEvent,
    event_id: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
) -> uuid.UUID | None:
    """Store a verified event (with the id and processing job given); its id, or None when
    the message was seen before."""
    inserted = session.execute(
        insert(WebhookEvent)
        .values(
            id=event_id or uuid.uuid4(),
            job_id=job_id,
            source=new.source,
            message_id=new.message_id,
            token_id=new.token_id,
            event_type=new.event_type,
            body=new.body,
        )
        .on_conflict_do_nothing()
        .returning(WebhookEvent.id)
    ).scalar_one_or_none()
    return inserted


def attach_job(*, session: Session, event_id: uuid.UUID, job_id: uuid.UUID) -> None:
    session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id).values(job_id=job_id))


def lock_event(*, session: Session, event_id: uuid.UUID) -> WebhookEvent | None:
    """The event under a row lock for this transaction (None if it is gone)."""
    return session.scalar(
        select(WebhookEvent)
        .where(WebhookEvent.id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def finish(event: WebhookEvent, status: WebhookStatus, *, error: str | None = None) -> None:
    event.status = status
    event.error = error[:MAX_ERROR_CHARS] if error else None
    event.processed_at = utcnow()


def record_failure(*, session: Session, event_id: uuid.UUID, error: str, final: bool) -> None:
    """Note a failed attempt (in a transaction of its own: the handler's rolled back)."""
    values: dict[str, Any] = {
        "attempts": WebhookEvent.attempts + 1,
        "error": error[:MAX_ERROR_CHARS],
    }
    if final:
        values.update(status=WebhookStatus.FAILED, processed_at=utcnow())
    session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id == event_id, WebhookEvent.status == WebhookStatus.RECEIVED)
        .values(**values)
    )


def reopen_for_replay(*, session: Session, event_id: uuid.UUID) -> WebhookEvent:
    """An operator's replay: the event goes back to received, to be processed again."""
    event = lock_event(session=session, event_id=event_id)
    if event is None:
        raise NotFound("webhook event not found", details={"event_id": str(event_id)})
    if event.status == WebhookStatus.RECEIVED:
        raise Conflict(
            "the event is still waiting to be processed", details={"event_id": str(event_id)}
        )
    event.status = WebhookStatus.RECEIVED
    event.error = None
    event.processed_at = None
    session.flush()
    return event


def list_events(
    *,
    session: Session,
    source: str | None,
    status: WebhookStatus | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[WebhookEvent], str | None]:
    """Events newest first, optionally of one source or status (operators)."""
    query = select(WebhookEvent)
    if source is not None:
        query = query.where(WebhookEvent.source == source)
    if status is not None:
        query = query.where(WebhookEvent.status == status)
    return newest_first(
        session=session,
        query=query,
        created_at=WebhookEvent.received_at,
        row_id=WebhookEvent.id,
        cursor=cursor,
        limit=limit,
    )
