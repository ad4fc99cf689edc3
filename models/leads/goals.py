"""Goals: a business goal stored, its strategy written, its search results kept once per URL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models.core.errors import NotFound
from models.core.pages import newest_first
from models.leads.tables import Goal, GoalStatus, SearchResult


@dataclass(frozen=True)
class NewGoal:
    goal: str
    lead_count: int
    target_market: str = ""
    location: str = ""
    ideal_customer: str = ""


@dataclass(frozen=True)
class FoundResult:
    """One web result as the search engine gave it."""

    url: str
    title: str
    description: str
    rank: int


def create_goal(*, session: Session, org_id: uuid.UUID, user_id: uuid.UUID, new: NewGoal) -> Goal:
    goal = Goal(
        org_id=org_id,
        created_by=user_id,
        goal=new.goal,
        lead_count=new.lead_count,
        target_market=new.target_market,
        location=new.location,
        ideal_customer=new.ideal_customer,
    )
    session.add(goal)
    session.flush()
    return goal


def goal_of(*, session: Session, org_id: uuid.UUID, goal_id: uuid.UUID) -> Goal:
    """The organisation's goal; another organisation's is as unknown as a missing one."""
    goal = session.scalar(select(Goal).where(Goal.id == goal_id, Goal.org_id == org_id))
    if goal is None:
        raise NotFound("no such goal", details={"goal_id": str(goal_id)})
    return goal


def list_goals(
    *, session: Session, org_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Goal], str | None]:
    return newest_first(
        session=session,
        query=select(Goal).where(Goal.org_id == org_id),
        created_at=Goal.created_at,
        row_id=Goal.id,
        cursor=cursor,
        limit=limit,
    )


def lock_goal(*, session: Session, goal_id: uuid.UUID) -> Goal:
    """The goal, locked for the caller's transaction (a job writing to it)."""
    goal = session.scalar(select(Goal).where(Goal.id == goal_id).with_for_update())
    if goal is None:
        raise NotFound("the goal is gone", details={"goal_id": str(goal_id)})
    return goal


def store_strategy(
    *,
    session: Session,
    goal_id: uuid.UUID,
    strategy: dict[str, Any],
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
) -> Goal:
    goal = lock_goal(session=session, goal_id=goal_id)
    goal.strategy = strategy
    goal.model = model
    goal.prompt_tokens += prompt_tokens
    goal.completion_tokens += completion_tokens
    goal.status = GoalStatus.SEARCHING
    return goal


def set_status(*, session: Session, goal_id: uuid.UUID, status: GoalStatus) -> None:
    lock_goal(session=session, goal_id=goal_id).status = status


def count_searches(*, session: Session, goal_id: uuid.UUID, paid: int) -> None:
    """Add the search calls paid for (cached answers are free)."""
    if paid:
        lock_goal(session=session, goal_id=goal_id).searches += paid


def store_results(
    *,
    session: Session,
    goal_id: uuid.UUID,
    query: str,
    altered_query: str | None,
    results: list[FoundResult],
) -> int:
    """Keep the results not seen before for this goal (by URL); returns how many were new."""
    if not results:
        return 0
    rows = [
        {
            "goal_id": goal_id,
            "query": query,
            "altered_query": altered_query,
            "rank": r.rank,
            "url": r.url,
            "title": r.title,
            "description": r.description,
        }
        for r in results
    ]
    inserted = session.execute(
        insert(SearchResult)
        .values(rows)
        .on_conflict_do_nothing(constraint="uq_lead_search_results_goal_url")
        .returning(SearchResult.id)
    )
    return len(inserted.all())


def results_of(*, session: Session, goal_id: uuid.UUID) -> list[SearchResult]:
    """The goal's results, best ranked first."""
    return list(
        session.scalars(
            select(SearchResult)
            .where(SearchResult.goal_id == goal_id)
            .order_by(SearchResult.rank, SearchResult.id)
        )
    )
