"""The engagement domain's tables: the points as recorded (never changed), their hourly and
daily rollups kept in the same transaction, and each organisation's data version."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    String,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, now_ts

# A point's value: up to 14 digits before the point and 6 after (numeric(20, 6)).
VALUE_PRECISION, VALUE_SCALE = 20, 6
GRAINS = ("hour", "day")  # the rollups kept; weeks are summed from days when read


def _org_fk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )


class Point(Base):
    """One measurement as it was recorded: append-only, never updated nor deleted by the API."""

    __tablename__ = "engagement_points"
    __table_args__ = (
        Index("ix_engagement_points_org_id", "org_id", "id"),  # the history, newest first
        Index(
            "ix_engagement_points_live_session",
            "org_id",
            "live_session_id",
            postgresql_where="live_session_id IS NOT NULL",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    org_id: Mapped[uuid.UUID] = _org_fk()
    metric: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(32))
    value: Mapped[Decimal] = mapped_column(Numeric(VALUE_PRECISION, VALUE_SCALE))
    recorded_at: Mapped[datetime]
    # The live stream session it was captured in. No foreign key: the live domain's sessions
    # may be kept elsewhere, and a point outlives the session it came from.
    live_session_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[now_ts]


class Rollup(Base):
    """The points of one metric and platform in one hour or day: what the dashboard reads.

    Raw figures only (count, sum, min, max, the last value): derived figures are computed from
    them when read, so a formula's new version never meets numbers made by the old one.
    """

    __tablename__ = "engagement_rollups"
    __table_args__ = (
        PrimaryKeyConstraint("org_id", "grain", "bucket", "metric", "platform"),
        CheckConstraint("grain IN ('hour', 'day')", name="grain"),
    )

    org_id: Mapped[uuid.UUID] = _org_fk()
    grain: Mapped[str] = mapped_column(String(4))
    bucket: Mapped[datetime]  # the hour's or day's start, UTC
    metric: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(BigInteger)
    sum: Mapped[Decimal] = mapped_column(Numeric)
    min: Mapped[Decimal] = mapped_column(Numeric(VALUE_PRECISION, VALUE_SCALE))
    max: Mapped[Decimal] = mapped_column(Numeric(VALUE_PRECISION, VALUE_SCALE))
    last_at: Mapped[datetime]  # when the bucket's latest point was recorded
    last_value: Mapped[Decimal] = mapped_column(Numeric(VALUE_PRECISION, VALUE_SCALE))


class DataVersion(Base):
    """How many writes an organisation's points have had: part of every dashboard cache key.

    Bumped in the transaction that writes the points, so a dashboard read after the commit
    finds the new version, misses the cache and computes afresh; it is never stale.
    """

    __tablename__ = "engagement_versions"

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(BigInteger)
