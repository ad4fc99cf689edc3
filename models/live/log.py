"""A session's event log: numbered 1, 2, 3… (`seq`, without gaps), durable, in commit order.

What a session's overlays are sent, in order, and what a reconnecting overlay is sent again
from its Last-Event-ID. Whoever adds an entry holds the session's row lock
(sessions.lock_session), so numbers follow commit order.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.live.tables import EventType, LiveEvent, LiveSession

PAGE = 500  # log entries read at a time


def append(
    *,
    session: Session,
    live: LiveSession,
    type: EventType,
    data: dict[str, Any],
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    key: str | None = None,
    request_hash: str | None = None,
) -> LiveEvent:
    """Add the next entry to the log of `live` (locked by the caller)."""
    live.last_seq += 1
    event = LiveEvent(
        session_id=live.id,
        seq=live.last_seq,
        org_id=live.org_id,
        type=type.value,
        idempotency_key=key,
        request_hash=request_hash,
        data=data,
        starts_at=starts_at,
        ends_at=ends_at,
        created_at=utcnow(),
    )
    session.add(event)
    session.flush()
    return event


def event_fields(event: LiveEvent) -> dict[str, Any]:
    """An entry as the API and the overlays show it (web/live/schemas.py LiveEventRead)."""
    return {
        "seq": event.seq,
        "type": event.type,
        "session_id": event.session_id,
        **event.data,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "created_at": event.created_at,
    }


def events_after(
    *, session: Session, session_id: uuid.UUID, after: int, limit: int = PAGE
) -> list[LiveEvent]:
    return list(
        session.scalars(
            select(LiveEvent)
            .where(LiveEvent.session_id == session_id, LiveEvent.seq > after)
            .order_by(LiveEvent.seq)
            .limit(limit)
        )
    )
