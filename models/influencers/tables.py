"""The influencer domain's tables: campaigns, their searches, the creators they found, and
each organisation's exclusion list.

A creator is stored once per campaign and platform (`platform_id` is the platform's own id);
later searches of the same campaign that meet it again leave it as it is. A search keeps its
provider cursor beside its counts, written in the same transaction as each page's creators.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, now_ts, uuid_pk


class CampaignStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class Platform(enum.StrEnum):
    TIKTOK = "tiktok"
    INSTAGRAM = "instagram"
    YOUTUBE = "youtube"


class SearchType(enum.StrEnum):
    KEYWORD = "keyword"
    SIMILAR = "similar"


class SearchState(enum.StrEnum):
    QUEUED = "queued"
    SEARCHING = "searching"
    ENRICHING = "enriching"
    COMPLETED = "completed"
    FAILED = "failed"


class StopReason(enum.StrEnum):
    TARGET = "target"  # found as many as asked
    BUDGET = "budget"  # the next request would have passed the credit budget
    EXHAUSTED = "exhausted"  # the provider had no more results


def _values(kind: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{member.value}'" for member in kind)


class Campaign(Base):
    __tablename__ = "influencer_campaigns"
    __table_args__ = (
        CheckConstraint(f"status IN ({_values(CampaignStatus)})", name="status"),
        Index("ix_influencer_campaigns_org_id", "org_id", "created_at", "id"),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, server_default="")
    status: Mapped[str] = mapped_column(String(20), server_default=CampaignStatus.ACTIVE.value)
    created_at: Mapped[now_ts]
    updated_at: Mapped[now_ts] = mapped_column(onupdate=func.now())


class Search(Base):
    __tablename__ = "influencer_searches"
    __table_args__ = (
        CheckConstraint(f"platform IN ({_values(Platform)})", name="platform"),
        CheckConstraint(f"type IN ({_values(SearchType)})", name="type"),
        CheckConstraint(f"state IN ({_values(SearchState)})", name="state"),
        CheckConstraint(
            f"stop_reason IS NULL OR stop_reason IN ({_values(StopReason)})", name="stop_reason"
        ),
        CheckConstraint("target > 0 AND credit_budget > 0", name="limits"),
        CheckConstraint(
            "found >= 0 AND enriched >= 0 AND credits_used >= 0 AND pages_fetched >= 0",
            name="counts",
        ),
        Index("ix_influencer_searches_campaign_id", "campaign_id", "created_at", "id"),
        Index("ix_influencer_searches_org_id", "org_id"),
        Index("ix_influencer_searches_job_id", "job_id"),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("influencer_campaigns.id", ondelete="CASCADE")
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("jobs.id", ondelete="SET NULL")
    )
    platform: Mapped[str] = mapped_column(String(20))
    type: Mapped[str] = mapped_column(String(20))
    keywords: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    seed_handle: Mapped[str | None] = mapped_column(String(200))
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    target: Mapped[int] = mapped_column(Integer)
    credit_budget: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), server_default=SearchState.QUEUED.value)
    stop_reason: Mapped[str | None] = mapped_column(String(20))
    # Where the provider's paging stands: each term's next page, which ran out, whose turn.
    cursor: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    pages_fetched: Mapped[int] = mapped_column(Integer, server_default="0")
    found: Mapped[int] = mapped_column(Integer, server_default="0")
    enriched: Mapped[int] = mapped_column(Integer, server_default="0")
    credits_used: Mapped[int] = mapped_column(Integer, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[now_ts]
    updated_at: Mapped[now_ts] = mapped_column(onupdate=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Creator(Base):
    __tablename__ = "influencer_creators"
    __table_args__ = (
        UniqueConstraint("campaign_id", "platform", "platform_id", name="uq_influencer_creators"),
        CheckConstraint(f"platform IN ({_values(Platform)})", name="platform"),
        Index("ix_influencer_creators_campaign_id", "campaign_id", "created_at", "id"),
        Index("ix_influencer_creators_search_id", "search_id", "created_at", "id"),
        Index("ix_influencer_creators_followers", "campaign_id", "followers", "id"),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("influencer_campaigns.id", ondelete="CASCADE")
    )
    # The search that found it first.
    search_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("influencer_searches.id", ondelete="CASCADE")
    )
    platform: Mapped[str] = mapped_column(String(20))
    platform_id: Mapped[str] = mapped_column(String(100))
    handle: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(300), server_default="")
    profile_url: Mapped[str] = mapped_column(Text, server_default="")
    avatar_url: Mapped[str] = mapped_column(Text, server_default="")
    followers: Mapped[int | None] = mapped_column(BigInteger)
    bio: Mapped[str] = mapped_column(Text, server_default="")
    emails: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    has_email: Mapped[bool] = mapped_column(Boolean, server_default="false")
    links: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    country: Mapped[str | None] = mapped_column(String(10))
    engagement_rate: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    # Which formula made engagement_rate: figures from different ones are not comparable.
    engagement_formula: Mapped[str | None] = mapped_column(String(60))
    # What the search saw: the posts' likes and views, and the post that matched.
    content: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    match_terms: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    match_score: Mapped[int] = mapped_column(Integer, server_default="0")
    match_reason: Mapped[str] = mapped_column(Text, server_default="")
    enriched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    enrich_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[now_ts]


class Exclusion(Base):
    """A creator the organisation has contacted or rejected: later searches skip it."""

    __tablename__ = "influencer_exclusions"
    __table_args__ = (CheckConstraint(f"platform IN ({_values(Platform)})", name="platform"),)

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        primary_key=True,
    )
    platform: Mapped[str] = mapped_column(String(20), primary_key=True)
    platform_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200), server_default="")
    created_at: Mapped[now_ts]
