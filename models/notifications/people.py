"""What the notifications domain holds about a platform user: which notifications they read,
and when. The notifications are the organisation's and stay; a leaving member's readings go
(models/core/erasure.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models.core.erasure import Person, personal_data
from models.notifications.tables import NotificationRead


def _export(session: Session, person: Person) -> dict[str, Any]:
    reads = session.execute(
        select(NotificationRead.notification_id, NotificationRead.read_at).where(
            NotificationRead.user_id == person.user_id
        )
    ).all()
    return {
        "notifications_read": [
            {"notification_id": str(n), "read_at": at.isoformat()} for n, at in reads
        ]
    }


@personal_data("notifications", export=_export)
def _erase(session: Session, person: Person) -> None:
    session.execute(delete(NotificationRead).where(NotificationRead.user_id == person.user_id))
