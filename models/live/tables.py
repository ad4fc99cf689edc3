"""The live domain's tables: stream sessions, their numbered event logs, overlay links,
uploaded effects and brand kits."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, now_ts, uuid_pk

PLATFORMS = ("twitch", "youtube", "kick", "tiktok", "facebook", "other")
# What an effect is for; a brand kit allows some of them.
CATEGORIES = ("alert", "celebration", "reaction", "ambient", "transition", "sound")


class SessionStatus(enum.StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class EventType(enum.StrEnum):
    EFFECT = "effect"  # a triggered effect, to play
    SESSION_ENDED = "session_ended"
    TOKEN_REVOKED = "token_revoked"  # noqa: S105 - an event name: an overlay link was revoked


class CheckStatus(enum.StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


def _org_fk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )


class BrandKit(Base):
    __tablename__ = "live_brand_kits"
    __table_args__ = (
        Index("ix_live_brand_kits_org_id", "org_id", "created_at"),
        CheckConstraint("motion_intensity BETWEEN 1 AND 5", name="motion_intensity"),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = _org_fk()
    name: Mapped[str] = mapped_column(String(100))
    palette: Mapped[list[str]] = mapped_column(JSONB)  # "#rrggbb" colours
    typography: Mapped[dict[str, Any]] = mapped_column(JSONB)
    motion_intensity: Mapped[int] = mapped_column(SmallInteger)
    allowed_categories: Mapped[list[str]] = mapped_column(JSONB)
    created_at: Mapped[now_ts]
    updated_at: Mapped[now_ts]


class LiveSession(Base):
    __tablename__ = "live_sessions"
    __table_args__ = (
        # One active session per creator and platform.
        Index(
            "uq_live_sessions_active",
            "created_by",
            "platform",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_live_sessions_org_id", "org_id", "started_at"),
        # The idle sweep looks at active sessions only.
        Index(
            "ix_live_sessions_idle",
            "last_activity_at",
            postgresql_where=text("status = 'active'"),
        ),
        CheckConstraint("status IN ('active', 'ended')", name="status"),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = _org_fk()
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    platform: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), server_default=SessionStatus.ACTIVE.value)
    brand_kit_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("live_brand_kits.id", ondelete="SET NULL")
    )
    started_at: Mapped[now_ts]
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_reason: Mapped[str | None] = mapped_column(String(20))  # "ended" or "idle"
    last_activity_at: Mapped[now_ts]
    last_seq: Mapped[int] = mapped_column(BigInteger, server_default="0")  # of its event log
    queue_ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    triggers: Mapped[int] = mapped_column(Integer, server_default="0")  # a figure of its own


class LiveEvent(Base):
    """One numbered entry of a session's event log: what overlays are sent, in order."""

    __tablename__ = "live_events"
    __table_args__ = (
        Index(
            "uq_live_events_idempotency_key",
            "session_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        # A trigger counts the effects not yet finished (models/live/triggers.py): these only.
        Index(
            "ix_live_events_queue",
            "session_id",
            "ends_at",
            postgresql_where=text("type = 'effect'"),
        ),
        CheckConstraint("type IN ('effect', 'session_ended', 'token_revoked')", name="type"),
    )

    session_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("live_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    org_id: Mapped[uuid.UUID] = _org_fk()
    type: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[now_ts]


class OverlayToken(Base):
    """A read-only link to one session's overlay stream; only its SHA-256 is kept."""

    __tablename__ = "live_overlay_tokens"
    __table_args__ = (Index("ix_live_overlay_tokens_session_id", "session_id"),)

    id: Mapped[uuid_pk]
    session_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("live_sessions.id", ondelete="CASCADE")
    )
    org_id: Mapped[uuid.UUID] = _org_fk()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[now_ts]
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UploadedEffect(Base):
    """An organisation's own effect: an asset in storage, checked by a job before use."""

    __tablename__ = "live_effects"
    __table_args__ = (
        Index("ix_live_effects_org_id", "org_id", "created_at"),
        CheckConstraint("status IN ('pending', 'passed', 'failed')", name="status"),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = _org_fk()
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(20))
    duration_ms: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(300))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), server_default=CheckStatus.PENDING.value)
    problem: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[now_ts]
