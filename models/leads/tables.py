"""The leads domain's tables: goals and their strategies, search results, leads (one per
company domain in an organisation) and every change made to a lead."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, now_ts, uuid_pk

MAX_LEADS_PER_GOAL = 500


class GoalStatus(enum.Enum):
    PLANNING = "planning"  # the strategy is being written
    SEARCHING = "searching"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class LeadStatus(enum.Enum):
    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    CONVERTED = "converted"
    LOST = "lost"


def _values(e: type[enum.Enum]) -> list[str]:
    return [m.value for m in e]


GOAL_STATUS_TYPE = Enum(GoalStatus, name="lead_goal_status", values_callable=_values)
LEAD_STATUS_TYPE = Enum(LeadStatus, name="lead_status", values_callable=_values)


def _org_fk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )


def _user_fk() -> Mapped[uuid.UUID | None]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))


class Goal(Base):
    """A business goal, and the search strategy written for it."""

    __tablename__ = "lead_goals"
    __table_args__ = (
        CheckConstraint(f"lead_count BETWEEN 1 AND {MAX_LEADS_PER_GOAL}", name="lead_count"),
        Index("ix_lead_goals_org_id", "org_id", "created_at", "id"),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = _org_fk()
    created_by: Mapped[uuid.UUID | None] = _user_fk()
    goal: Mapped[str] = mapped_column(Text)
    target_market: Mapped[str] = mapped_column(Text, server_default="")
    location: Mapped[str] = mapped_column(Text, server_default="")
    ideal_customer: Mapped[str] = mapped_column(Text, server_default="")
    lead_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[GoalStatus] = mapped_column(
        GOAL_STATUS_TYPE, server_default=GoalStatus.PLANNING.value
    )
    strategy: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    model: Mapped[str | None] = mapped_column(String(100))  # the model that wrote it
    prompt_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    searches: Mapped[int] = mapped_column(Integer, server_default="0")  # Brave calls paid for
    strategy_job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    search_job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[now_ts]
    updated_at: Mapped[now_ts] = mapped_column(onupdate=func.now())


class SearchResult(Base):
    """One web result a goal's search found, once per URL."""

    __tablename__ = "lead_search_results"
    __table_args__ = (UniqueConstraint("goal_id", "url", name="uq_lead_search_results_goal_url"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    goal_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("lead_goals.id", ondelete="CASCADE"), nullable=False
    )
    query: Mapped[str] = mapped_column(Text)
    altered_query: Mapped[str | None] = mapped_column(Text)  # the search engine's spelling
    rank: Mapped[int] = mapped_column(Integer)  # position over the query's pages, from 0
    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, server_default="")
    description: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[now_ts]


class Lead(Base):
    """A company worth contacting: one per web domain in an organisation."""

    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("org_id", "domain", name="uq_leads_org_domain"),
        CheckConstraint("score BETWEEN 0 AND 100", name="score"),
        Index("ix_leads_org_created", "org_id", "created_at", "id"),
        Index("ix_leads_org_status_created", "org_id", "status", "created_at", "id"),
        Index("ix_leads_goal_id", "goal_id"),
        Index("ix_leads_tags", "tags", postgresql_using="gin"),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = _org_fk()
    goal_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("lead_goals.id", ondelete="SET NULL")
    )
    domain: Mapped[str] = mapped_column(String(253))
    company_name: Mapped[str] = mapped_column(Text, server_default="")
    emails: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    phones: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    social: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    source: Mapped[str] = mapped_column(String(20))  # "search" or "manual"
    source_url: Mapped[str | None] = mapped_column(Text)
    score: Mapped[int] = mapped_column(Integer, server_default="0")
    score_reasons: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    status: Mapped[LeadStatus] = mapped_column(
        LEAD_STATUS_TYPE, server_default=LeadStatus.NEW.value
    )
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), server_default="{}")
    notes: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[now_ts]
    updated_at: Mapped[now_ts] = mapped_column(onupdate=func.now())


class LeadChange(Base):
    """One change to a lead: who made it, when, and the fields before and after."""

    __tablename__ = "lead_changes"
    __table_args__ = (
        Index("ix_lead_changes_lead_id", "lead_id", "id"),
        Index("ix_lead_changes_org_id", "org_id", "id"),  # the members' notifications
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("leads.id", ondelete="CASCADE"), nullable=False
    )
    org_id: Mapped[uuid.UUID] = _org_fk()
    actor_id: Mapped[uuid.UUID | None] = _user_fk()  # None: a job (a search that found it)
    changed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    before: Mapped[dict[str, Any]] = mapped_column(JSONB)
    after: Mapped[dict[str, Any]] = mapped_column(JSONB)
