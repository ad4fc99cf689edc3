"""Searches: what to look for, how far it got, and what it cost.

A search's job reads its cursor, fetches the next page outside any transaction, then calls
`save_page`, which, under the search's row lock, checks the cursor is still the one the page
was fetched from (another run of the same job may have saved it already), stores the page's
creators and moves the cursor and the counts, in one transaction. A run stopped anywhere
resumes at the first page not saved: no page is stored twice and none is skipped.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.core.errors import NotFound
from models.core.pages import newest_first
from models.influencers.creators import CreatorRecord, add_found
from models.influencers.tables import Search, SearchState, StopReason


class SearchGone(Exception):
    """The search was deleted (with its campaign) or belongs to another job."""


def add_search(
    *,
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    user_id: uuid.UUID,
    fields: dict[str, Any],
) -> Search:
    search = Search(org_id=org_id, campaign_id=campaign_id, created_by=user_id, **fields)
    session.add(search)
    session.flush()
    return search


def get_search(
    *, session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, search_id: uuid.UUID
) -> Search:
    search = session.scalar(
        select(Search).where(
            Search.id == search_id, Search.campaign_id == campaign_id, Search.org_id == org_id
        )
    )
    if search is None:
        raise NotFound("search not found", details={"search_id": str(search_id)})
    return search


def list_searches(
    *, session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Search], str | None]:
    return newest_first(
        session=session,
        query=select(Search).where(Search.campaign_id == campaign_id, Search.org_id == org_id),
        created_at=Search.created_at,
        row_id=Search.id,
        cursor=cursor,
        limit=limit,
    )


def credits_used_by(*, session: Session, org_id: uuid.UUID) -> int:
    """Credits the organisation's searches have spent, all time."""
    total = session.scalar(
        select(func.coalesce(func.sum(Search.credits_used), 0)).where(Search.org_id == org_id)
    )
    return int(total or 0)


# -- the job's side --------------------------------------------------------------------------
def search_for_job(
    *, session: Session, search_id: uuid.UUID, job_id: uuid.UUID, lock: bool = False
) -> Search:
    """The search this job was made for (SearchGone if deleted, or not this job's)."""
    query = select(Search).where(Search.id == search_id, Search.job_id == job_id)
    search = session.scalar(query.with_for_update() if lock else query)
    if search is None:
        raise SearchGone(f"search {search_id} is gone or belongs to another job")
    return search


def save_page(
    *,
    session: Session,
    search_id: uuid.UUID,
    job_id: uuid.UUID,
    fetched_at: dict[str, Any],
    following: dict[str, Any],
    records: list[CreatorRecord],
    credits: int,
) -> Search | None:
    """Store a page fetched at cursor `fetched_at` and move to `following`, or None when the
    search has moved past `fetched_at` already (the page was saved by another run)."""
    search = search_for_job(session=session, search_id=search_id, job_id=job_id, lock=True)
    if search.cursor != fetched_at:
        return None
    search.found += add_found(
        session=session, search=search, records=records, room=search.target - search.found
    )
    search.cursor = following
    search.pages_fetched += 1
    search.credits_used += credits
    search.state = SearchState.SEARCHING.value
    return search


def spend(
    *, session: Session, search_id: uuid.UUID, job_id: uuid.UUID, credits: int, enriched: int = 0
) -> Search:
    """Count credits spent outside paging (a seed profile, an enrichment)."""
    search = search_for_job(session=session, search_id=search_id, job_id=job_id, lock=True)
    search.credits_used += credits
    search.enriched += enriched
    return search


def set_state(
    *,
    session: Session,
    search_id: uuid.UUID,
    job_id: uuid.UUID,
    state: SearchState,
    stop_reason: StopReason | None = None,
    error: str | None = None,
    **changes: Any,
) -> Search:
    search = search_for_job(session=session, search_id=search_id, job_id=job_id, lock=True)
    search.state = state.value
    if stop_reason is not None:
        search.stop_reason = stop_reason.value
    if error is not None:
        search.error = error
    if state in (SearchState.COMPLETED, SearchState.FAILED):
        search.finished_at = utcnow()
    for name, value in changes.items():
        setattr(search, name, value)
    return search
