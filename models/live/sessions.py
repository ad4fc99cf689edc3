"""Stream sessions: started on a platform, ended by the creator or, once idle past
LIVE_SESSION_IDLE_S, by the `live.end_idle_sessions` periodic job.

One active session per creator and platform (a partial unique index says so too, against
two starts at once); how many an organisation may have active at once is its tier's
(models/live/tiers.py), counted under the organisation's row lock. Ending a session writes
`session_ended` to its log, so its overlays hear of it and stop.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.core.errors import Conflict, NotFound
from models.core.pages import newest_first
from models.live import brand_kits, tiers
from models.live.log import append
from models.live.tables import EventType, LiveSession, SessionStatus


def _active_conflict(platform: str, existing: uuid.UUID | None) -> Conflict:
    return Conflict(
        f"you already have an active session on {platform}: end it first",
        details={"session_id": str(existing) if existing else None, "platform": platform},
    )


def start_session(
    *,
    session: Session,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    platform: str,
    title: str,
    brand_kit_id: uuid.UUID | None,
) -> LiveSession:
    existing = session.scalar(
        select(LiveSession.id).where(
            LiveSession.created_by == user_id,
            LiveSession.platform == platform,
            LiveSession.status == SessionStatus.ACTIVE.value,
        )
    )
    if existing is not None:
        raise _active_conflict(platform, existing)
    # Under the organisation's lock: two starts at once would both count the same active
    # sessions and both pass the tier's cap.
    tier, rules = tiers.lock_rules(session=session, org_id=org_id)
    if rules.concurrent_sessions is not None:
        active = session.scalar(
            select(func.count()).where(
                LiveSession.org_id == org_id, LiveSession.status == SessionStatus.ACTIVE.value
            )
        )
        if (active or 0) >= rules.concurrent_sessions:
            raise tiers.more_needed(
                feature="concurrent_sessions",
                what="active sessions at once",
                tier=tier,
                count=rules.concurrent_sessions,
            )
    if brand_kit_id is not None:
        tiers.require(
            session=session, org_id=org_id, feature="brand_kits", what="sessions with a brand kit"
        )
        brand_kits.get_kit(session=session, org_id=org_id, kit_id=brand_kit_id)
    now = utcnow()
    live = LiveSession(
        org_id=org_id,
        created_by=user_id,
        platform=platform,
        title=title,
        status=SessionStatus.ACTIVE.value,
        brand_kit_id=brand_kit_id,
        started_at=now,
        last_activity_at=now,
        last_seq=0,
        triggers=0,
    )
    try:
        with session.begin_nested():
            session.add(live)
    except IntegrityError:  # a second start at the same moment
        raise _active_conflict(platform, None) from None
    return live


def get_session(*, session: Session, org_id: uuid.UUID, session_id: uuid.UUID) -> LiveSession:
    live = session.scalar(
        select(LiveSession).where(LiveSession.id == session_id, LiveSession.org_id == org_id)
    )
    if live is None:
        raise NotFound("no stream session with this id", details={"session_id": str(session_id)})
    return live


def lock_session(*, session: Session, org_id: uuid.UUID, session_id: uuid.UUID) -> LiveSession:
    """The session, locked until the transaction ends (its log is added to one at a time)."""
    live = session.scalar(
        select(LiveSession)
        .where(LiveSession.id == session_id, LiveSession.org_id == org_id)
        .with_for_update()
    )
    if live is None:
        raise NotFound("no stream session with this id", details={"session_id": str(session_id)})
    return live


def list_sessions(
    *,
    session: Session,
    org_id: uuid.UUID,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[LiveSession], str | None]:
    query = select(LiveSession).where(LiveSession.org_id == org_id)
    if status is not None:
        query = query.where(LiveSession.status == status)
    return newest_first(
        session=session,
        query=query,
        created_at=LiveSession.started_at,
        row_id=LiveSession.id,
        cursor=cursor,
        limit=limit,
    )


def end_session(
    *, session: Session, org_id: uuid.UUID, session_id: uuid.UUID, reason: str = "ended"
) -> LiveSession:
    """End the session (ending an ended one changes nothing) and tell its overlays."""
    live = lock_session(session=session, org_id=org_id, session_id=session_id)
    if live.status == SessionStatus.ENDED:
        return live
    live.status = SessionStatus.ENDED.value
    live.ended_at = utcnow()
    live.ended_reason = reason
    append(session=session, live=live, type=EventType.SESSION_ENDED, data={"reason": reason})
    return live


def idle_sessions(*, session: Session, idle_s: float, now: datetime | None = None) -> list[Any]:
    """(org_id, id) of the active sessions without activity for `idle_s` seconds."""
    since = (now or utcnow()) - timedelta(seconds=idle_s)
    return list(
        session.execute(
            select(LiveSession.org_id, LiveSession.id)
            .where(
                LiveSession.status == SessionStatus.ACTIVE.value,
                LiveSession.last_activity_at < since,
            )
            .limit(1000)
        )
    )
