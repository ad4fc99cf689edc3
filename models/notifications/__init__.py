"""The notifications domain: what changed for an artist (the organisation) — revenue imports
landed, releases reviewed, withdrawals paid, fan milestones — written once a day as
notifications its members read, each member's reading their own. Other domains use it through
the names below only."""

from models.notifications import people  # noqa: F401 - registers what it holds about people
from models.notifications.changes import FAN_MILESTONES, Change
from models.notifications.inbox import (
    Item,
    list_notifications,
    mark_all_read,
    mark_read,
    unread_count,
)
from models.notifications.runs import rephrase, write_notifications, written
from models.notifications.tables import Kind, Mark, Notification, NotificationRead

__all__ = [
    "FAN_MILESTONES",
    "Change",
    "Item",
    "Kind",
    "Mark",
    "Notification",
    "NotificationRead",
    "list_notifications",
    "mark_all_read",
    "mark_read",
    "rephrase",
    "unread_count",
    "write_notifications",
    "written",
]
