"""Running one influencer search: page by page until the target, the budget or the results run
out, then enrichment of the profiles found.

Each page is fetched outside any transaction and saved with the cursor that follows it in
one (models/influencers/searches.py `save_page`), so a run that stops anywhere resumes at the
first page not saved: a page is fetched again only if the run stopped between fetching and
saving it. Before each request the search checks its budget: the next request is expected to
cost what the last one of its kind did, and is not made if that would pass the budget.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from models.influencers import Creator, Search, SearchState, SearchType, StopReason
from models.influencers.creators import apply_profile, to_enrich
from models.influencers.searches import save_page, search_for_job, set_state, spend
from workers.clients.scrapecreators import ProfileNotFound, ScrapeCreators
from workers.influencers.platforms import PLATFORMS, profile_key
from workers.influencers.similar import seed_terms

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None, str], None]
ENRICH_BATCH = 20


@dataclass
class SearchRun:
    """One run of a search's job; `run()` picks up wherever the search stands."""

    sessions: sessionmaker[Session]
    api: ScrapeCreators
    job_id: uuid.UUID
    search_id: uuid.UUID
    cache_max_age: str
    progress: Progress
    # Called in the transaction that marks the search completed (the mail to its author).
    on_complete: Callable[[Session, Search], None] = lambda session, search: None

    def _search(self) -> dict[str, Any]:
        with self.sessions() as session:
            search = search_for_job(session=session, search_id=self.search_id, job_id=self.job_id)
            return {c.key: getattr(search, c.key) for c in search.__table__.columns}

    def run(self) -> dict[str, Any]:
        search = self._search()
        if search["state"] == SearchState.COMPLETED:
            return self.summary(search)
        if search["state"] in (SearchState.QUEUED, SearchState.SEARCHING):
            if search["type"] == SearchType.SIMILAR and "terms" not in search["cursor"]:
                search = self.prepare_similar(search)
            search = self.page_through(search)
        search = self.enrich(search)
        return self.summary(search)

    # -- similar: the seed's terms ----------------------------------------------------------
    def prepare_similar(self, search: dict[str, Any]) -> dict[str, Any]:
        platform = PLATFORMS[search["platform"]]
        seed, answer = platform.profile(self.api, search["seed_handle"], self.cache_max_age)
        terms = seed_terms(seed.bio, seed.display_name) or [seed.handle]
        with self.sessions.begin() as session:
            spend(
                session=session,
                search_id=self.search_id,
                job_id=self.job_id,
                credits=answer.credits_charged,
            )
            cursor = {"terms": terms, "seed_id": seed.platform_id}
            set_state(
                session=session,
                search_id=self.search_id,
                job_id=self.job_id,
                state=SearchState.SEARCHING,
                cursor=cursor,
                keywords=terms,
            )
        return self._search()

    # -- stage 1: pages --------------------------------------------------------------------
    def page_through(self, search: dict[str, Any]) -> dict[str, Any]:
        """Page through the terms in turn (a page of each, then the next page of each), so a
        similar search meets the candidates several terms share early."""
        platform = PLATFORMS[search["platform"]]
        terms = search["cursor"].get("terms") or search["keywords"]
        while True:
            stored = search["cursor"]
            cursor = _paging(stored, len(terms))
            turn = _next_turn(cursor)
            reason = self._stop_reason(search, cursor, turn)
            if reason is not None or turn is None:
                break
            term = terms[turn]
            page, answer = platform.search(self.api, term, cursor["pages"][turn])
            records = [r for r in page.records if r.platform_id != cursor.get("seed_id")]
            for record in records:
                record.terms = [term]
            following = {**cursor, "pages": list(cursor["pages"]), "done": list(cursor["done"])}
            following["pages"][turn] = page.following
            following["done"][turn] = page.following is None
            following.update(turn=turn + 1, cost=max(1, answer.credits_charged))
            with self.sessions.begin() as session:
                saved = save_page(
                    session=session,
                    search_id=self.search_id,
                    job_id=self.job_id,
                    fetched_at=stored,
                    following=following,
                    records=records,
                    credits=answer.credits_charged,
                )
            if saved is None:
                log.info(
                    "page saved by another run; skipped", extra={"search_id": str(self.search_id)}
                )
            search = self._search()
            found, target = search["found"], search["target"]
            self.progress(found, target, f"{found}/{target} found")
        with self.sessions.begin() as session:
            set_state(
                session=session,
                search_id=self.search_id,
                job_id=self.job_id,
                state=SearchState.ENRICHING,
                stop_reason=reason or StopReason.EXHAUSTED,
            )
        return self._search()

    def _stop_reason(
        self, search: dict[str, Any], cursor: dict[str, Any], turn: int | None
    ) -> StopReason | None:
        if search["found"] >= search["target"]:
            return StopReason.TARGET
        if turn is None:
            return StopReason.EXHAUSTED
        if search["credits_used"] + cursor.get("cost", 1) > search["credit_budget"]:
            return StopReason.BUDGET
        return None

    # -- stage 2: profiles ------------------------------------------------------------------
    def enrich(self, search: dict[str, Any]) -> dict[str, Any]:
        platform = PLATFORMS[search["platform"]]
        total = search["found"]
        while True:
            with self.sessions() as session:
                batch = [
                    (c.id, profile_key(c.platform, c.platform_id, c.handle))
                    for c in to_enrich(
                        session=session, search_id=self.search_id, limit=ENRICH_BATCH
                    )
                ]
            if not batch:
                break
            for creator_id, key in batch:
                search = self._search()
                # A cached profile costs 0, a fresh one 1: the dearer case decides.
                if search["credits_used"] + 1 > search["credit_budget"]:
                    return self._finish(search, budget_hit=True)
                self._enrich_one(platform, creator_id, key)
                self.progress(
                    search["enriched"] + 1, total, f"{search['enriched'] + 1}/{total} enriched"
                )
        return self._finish(self._search(), budget_hit=False)

    def _enrich_one(self, platform: Any, creator_id: uuid.UUID, key: str) -> None:
        error, charged = None, 0
        try:
            profile, answer = platform.profile(self.api, key, self.cache_max_age)
            charged = answer.credits_charged
        except ProfileNotFound as exc:
            profile, error = None, str(exc)[:500]
        with self.sessions.begin() as session:
            creator = session.get_one(Creator, creator_id, with_for_update=True)
            if profile is not None:
                apply_profile(creator, profile)
            else:
                creator.enrich_error = error or "not found"
            spend(
                session=session,
                search_id=self.search_id,
                job_id=self.job_id,
                credits=charged,
                enriched=1,
            )

    def _finish(self, search: dict[str, Any], *, budget_hit: bool) -> dict[str, Any]:
        with self.sessions.begin() as session:
            found = _drop_unmatched(session, self.search_id, search["filters"])
            completed = set_state(
                session=session,
                search_id=self.search_id,
                job_id=self.job_id,
                state=SearchState.COMPLETED,
                stop_reason=StopReason.BUDGET if budget_hit else None,
                found=found,
            )
            self.on_complete(session, completed)
        return self._search()

    def summary(self, search: dict[str, Any]) -> dict[str, Any]:
        return {
            "search_id": str(self.search_id),
            "found": search["found"],
            "target": search["target"],
            "enriched": search["enriched"],
            "pages_fetched": search["pages_fetched"],
            "credits_used": search["credits_used"],
            "stop_reason": search["stop_reason"],
        }


def _paging(stored: dict[str, Any], terms: int) -> dict[str, Any]:
    """The stored cursor with its paging state filled in: each term's next page and whether
    it ran out, and whose turn it is."""
    return {
        **stored,
        "turn": stored.get("turn", 0),
        "pages": stored.get("pages") or [None] * terms,
        "done": stored.get("done") or [False] * terms,
    }


def _next_turn(cursor: dict[str, Any]) -> int | None:
    """The next term, from the one whose turn it is, that has pages left (None: all ran out)."""
    done = cursor["done"]
    for step in range(len(done)):
        turn = (cursor["turn"] + step) % len(done)
        if not done[turn]:
            return turn
    return None


def _drop_unmatched(session: Session, search_id: uuid.UUID, filters: dict[str, Any]) -> int:
    """Remove the search's creators that enrichment showed to miss the filters (follower
    counts YouTube search does not give, e-mail addresses bios reveal); how many are left."""
    misses = []
    if filters.get("has_email"):
        misses.append(Creator.has_email.is_(False))
    if filters.get("followers_min") is not None:
        misses.append(Creator.followers < filters["followers_min"])
    if filters.get("followers_max") is not None:
        misses.append(Creator.followers > filters["followers_max"])
    if misses:
        session.execute(
            delete(Creator).where(
                Creator.search_id == search_id, Creator.enriched_at.is_not(None), or_(*misses)
            )
        )
    return session.scalar(select(func.count()).where(Creator.search_id == search_id)) or 0
