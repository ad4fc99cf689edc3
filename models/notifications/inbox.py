"""A member's view of their organisation's notifications: pages newest first, the unread
count, marking one or all read. The notifications are the organisation's; reading is each
member's own. Another organisation's notification is not found."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, literal, or_, select
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.orm import Session

from models.core.errors import NotFound
from models.core.pages import decode_cursor, encode_cursor
from models.notifications.tables import Kind, Notification, NotificationRead


@dataclass(frozen=True)
class Item:
    """A notification as one member sees it."""

    id: uuid.UUID
    kind: Kind
    title: str
    body: str
    phrased_by: str
    facts: dict[str, Any]
    happened_at: datetime
    created_at: datetime
    read_at: datetime | None

    @property
    def read(self) -> bool:
        return self.read_at is not None


def _seen_by(user_id: uuid.UUID) -> Any:
    return and_(
        NotificationRead.notification_id == Notification.id, NotificationRead.user_id == user_id
    )


def _items(org_id: uuid.UUID, user_id: uuid.UUID) -> Select[Notification, datetime]:
    return (
        select(Notification, NotificationRead.read_at)
        .outerjoin(NotificationRead, _seen_by(user_id))
        .where(Notification.org_id == org_id)
    )


def _item(row: Notification, read_at: datetime | None) -> Item:
    return Item(
        id=row.id,
        kind=Kind(row.kind),
        title=row.title,
        body=row.body,
        phrased_by=row.phrased_by,
        facts=row.facts,
        happened_at=row.happened_at,
        created_at=row.created_at,
        read_at=read_at,
    )


def list_notifications(
    *,
    session: Session,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    unread_only: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[Item], str | None]:
    """One page, newest first, and the next page's cursor (None on the last)."""
    query = _items(org_id, user_id)
    if unread_only:
        query = query.where(NotificationRead.read_at.is_(None))
    if cursor:
        after_created, after_id = decode_cursor(cursor)
        created, row_id = Notification.created_at, Notification.id
        query = query.where(
            or_(created < after_created, and_(created == after_created, row_id < after_id))
        )
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc())
    rows = [_item(row, read_at) for row, read_at in session.execute(query.limit(limit + 1))]
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last.created_at, last.id)


def unread_count(*, session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> int:
    """How many of the organisation's notifications the member has not read."""
    unread = (
        select(func.count())
        .select_from(Notification)
        .outerjoin(NotificationRead, _seen_by(user_id))
        .where(Notification.org_id == org_id, NotificationRead.read_at.is_(None))
    )
    return session.scalar(unread) or 0


def mark_read(
    *, session: Session, org_id: uuid.UUID, user_id: uuid.UUID, notification_id: uuid.UUID
) -> Item:
    """Mark one notification read by the member (again: nothing changes)."""
    found = session.get(Notification, notification_id)
    if found is None or found.org_id != org_id:
        raise NotFound("notification not found", details={"notification_id": str(notification_id)})
    session.execute(
        insert(NotificationRead)
        .values(notification_id=notification_id, user_id=user_id)
        .on_conflict_do_nothing()
    )
    row = session.execute(_items(org_id, user_id).where(Notification.id == notification_id)).one()
    return _item(row[0], row[1])


def mark_all_read(*, session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> int:
    """Mark every notification of the organisation read by the member; how many were unread."""
    unread = (
        select(Notification.id, literal(user_id, UUID(as_uuid=True)))
        .outerjoin(NotificationRead, _seen_by(user_id))
        .where(Notification.org_id == org_id, NotificationRead.read_at.is_(None))
    )
    marked = session.scalars(
        insert(NotificationRead)
        .from_select(["notification_id", "user_id"], unread)
        .on_conflict_do_nothing()
        .returning(NotificationRead.notification_id)
    )
    return len(list(marked))
