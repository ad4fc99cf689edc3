"""What the live domain holds about a platform user: the stream sessions they started. For
account export and erasure (models/core/erasure.py): the sessions stay the organisation's
and lose the name; any still active are ended."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.core.erasure import Person, personal_data
from models.live.sessions import end_session
from models.live.tables import LiveSession, SessionStatus


def _export(session: Session, person: Person) -> dict[str, Any]:
    rows = session.execute(
        select(LiveSession.id, LiveSession.platform, LiveSession.title, LiveSession.started_at)
        .where(LiveSession.created_by == person.user_id)
        .order_by(LiveSession.started_at)
    ).all()
    return {
        "stream_sessions": [
            {"id": str(i), "platform": p, "title": t, "started_at": at.isoformat()}
            for i, p, t, at in rows
        ]
    }


@personal_data("live", export=_export)
def _erase(session: Session, person: Person) -> None:
    mine = LiveSession.created_by == person.user_id
    active = session.execute(
        select(LiveSession.org_id, LiveSession.id).where(
            mine, LiveSession.status == SessionStatus.ACTIVE.value
        )
    ).all()
    for org_id, session_id in active:  # their overlays read `session_ended` at their next beat
        end_session(session=session, org_id=org_id, session_id=session_id)
    session.execute(update(LiveSession).where(mine).values(created_by=None))
