"""The notifications domain's tables: an organisation's notifications, who of its members read
which, and how far the daily run has read each organisation's changes.

A notification is the artist's, the organisation's: every member sees the same list, and each
member's reading is their own (`notification_reads`). Its key — organisation, kind, subject,
period — is unique, so a run repeated or late writes nothing twice.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, now_ts, timestamp, uuid_pk


class Kind(enum.StrEnum):
    IMPORT_LANDED = "import_landed"
    RELEASE_APPROVED = "release_approved"
    RELEASE_REJECTED = "release_rejected"
    WITHDRAWAL_PAID = "withdrawal_paid"
    FAN_MILESTONE = "fan_milestone"


KINDS_SQL = ", ".join(f"'{kind.value}'" for kind in Kind)


def _org() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # One per thing that happened, however many runs see it.
        UniqueConstraint("org_id", "kind", "subject", "period", name="uq_notifications_key"),
        Index("ix_notifications_org_id_created_at", "org_id", "created_at", "id"),
        CheckConstraint(f"kind IN ({KINDS_SQL})", name="kind"),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = _org()
    kind: Mapped[str] = mapped_column(String(40))
    # What it is about: an upload's, a release's or a withdrawal's id, a milestone's figure.
    subject: Mapped[str] = mapped_column(String(100))
    # The UTC day it happened ("2026-12-06"), or "" for what happens once ever (a milestone).
    period: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # "template", or the model that phrased the body.
    phrased_by: Mapped[str] = mapped_column(String(100), server_default="template")
    facts: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    happened_at: Mapped[timestamp]
    created_at: Mapped[now_ts]


class NotificationRead(Base):
    """A member's reading of a notification."""

    __tablename__ = "notification_reads"
    __table_args__ = (Index("ix_notification_reads_user_id", "user_id"),)

    notification_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    read_at: Mapped[now_ts]


class Mark(Base):
    """How far the daily run has read an organisation's changes (its high-water mark)."""

    __tablename__ = "notification_marks"

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    read_until: Mapped[datetime] = mapped_column(nullable=False)
    updated_at: Mapped[now_ts]
