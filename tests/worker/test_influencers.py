"""Influencer searches against the fake provider: resumed runs fetch no page twice, the
budget and the target stop a search, enrichment fills profiles, every platform and type
runs through a real worker, and injected failures lose and duplicate nothing."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from config import Settings
from devstack.fakes import Served, serve
from devstack.fakes.scrapecreators import KEY, FakeScrapeCreators, creator, results
from models.core.jobs import Job, JobStatus, NewJob, create_job
from models.influencers import Creator, Search
from models.influencers.campaigns import create_campaign
from models.influencers.creators import exclude
from models.influencers.searches import add_search
from tests.conftest import make_user, org_of
from tests.worker.conftest import RunningWorker, wait_for
from workers.clients.scrapecreators import ScrapeCreators
from workers.core.enqueue import submit
from workers.core.registry import get_kind
from workers.core.setup import Platform
from workers.influencers.search import SearchRun


class Killed(Exception):
    """Stands for the worker process dying right after a page was saved."""


@pytest.fixture()
def fake() -> Iterator[tuple[FakeScrapeCreators, Served]]:
    app = FakeScrapeCreators()
    app.state.retry_after_s = 0
    served = serve(app)
    yield app, served
    served.stop()


@pytest.fixture()
def provider_settings(settings: Settings, fake: tuple[FakeScrapeCreators, Served]) -> Settings:
    return settings.replace(
        scrapecreators_base_url=fake[1].url,
        scrapecreators_api_key=KEY,
        scrapecreators_requests_per_s=1000,
        scrapecreators_attempts=8,
        broker_namespace=settings.broker_namespace,
    )


def new_search(stack: Platform, /, **fields: Any) -> tuple[uuid.UUID, uuid.UUID]:
    """A user, their campaign and a search in it (and its job row, not sent); (search, job)."""
    with stack.sessions.begin() as session:
        user = make_user(session)
        org_id = org_of(session, user.id)
        campaign = create_campaign(
            session=session, org_id=org_id, user_id=user.id, fields={"name": "Spring launch"}
        )
        values = {"platform": "tiktok", "type": "keyword", "keywords": ["gaming"], **fields}
        values.setdefault("target", 100)
        values.setdefault("credit_budget", 1000)
        search = add_search(
            session=session, org_id=org_id, campaign_id=campaign.id, user_id=user.id, fields=values
        )
        job, _ = create_job(
            session=session,
            owner_id=user.id,
            org_id=org_id,
            new=NewJob(
                kind="influencers.search",
                queue="influencers",
                params={"search_id": str(search.id)},
                max_attempts=8,
            ),
        )
        search.job_id = job.id
        return search.id, job.id


def run(
    platform: Platform,
    settings: Settings,
    search_id: uuid.UUID,
    job_id: uuid.UUID,
    progress: Any = None,
) -> dict[str, Any]:
    with ScrapeCreators(settings) as api:
        return SearchRun(
            sessions=platform.sessions,
            api=api,
            job_id=job_id,
            search_id=search_id,
            cache_max_age="7d",
            progress=progress or (lambda done, total, message: None),
        ).run()


def creator_ids(platform: Platform, search_id: uuid.UUID) -> list[str]:
    with platform.sessions() as session:
        return list(
            session.scalars(select(Creator.platform_id).where(Creator.search_id == search_id))
        )


def load_search(platform: Platform, search_id: uuid.UUID) -> Search:
    with platform.sessions() as session:
        return session.get_one(Search, search_id)


def search_requests(app: FakeScrapeCreators, path: str) -> dict[str, int]:
    return {page: n for (p, page), n in app.state.requests.items() if p == path}


def test_a_search_killed_after_a_page_resumes_without_fetching_any_page_twice(
    committed_platform: Platform,
    provider_settings: Settings,
    fake: tuple[FakeScrapeCreators, Served],
) -> None:
    app, _ = fake
    search_id, job_id = new_search(committed_platform, target=100)
    pages_seen = []

    def die_after_three_pages(done: int, total: int | None, message: str) -> None:
        pages_seen.append(done)
        if len(pages_seen) == 3:
            raise Killed

    with pytest.raises(Killed):
        run(committed_platform, provider_settings, search_id, job_id, die_after_three_pages)
    assert load_search(committed_platform, search_id).pages_fetched == 3

    summary = run(committed_platform, provider_settings, search_id, job_id)

    requests = search_requests(app, "/v1/tiktok/search/keyword")
    assert sorted(requests) == [f"gaming|{cursor}" for cursor in (0, 20, 40, 60, 80)]
    assert set(requests.values()) == {1}  # every page fetched once
    expected = {creator("tiktok", n)["id"] for n in results("tiktok", "gaming", 100)}
    found = creator_ids(committed_platform, search_id)
    assert len(found) == len(set(found)) == 100
    assert set(found) == expected  # none missing, none duplicated
    assert summary["found"] == 100
    assert summary["stop_reason"] == "target"
    assert summary["pages_fetched"] == 5


class DiesAfterFetching(ScrapeCreators):
    """Dies (as a killed worker would) right after its `pages`-th answer came, unsaved."""

    def __init__(self, settings: Settings, pages: int) -> None:
        super().__init__(settings)
        self.left = pages

    def get(self, path: str, params: dict[str, Any]) -> Any:
        answer = super().get(path, params)
        self.left -= 1
        if self.left == 0:
            raise Killed
        return answer


def test_a_search_killed_between_fetching_and_saving_a_page_fetches_that_page_again_only(
    committed_platform: Platform,
    provider_settings: Settings,
    fake: tuple[FakeScrapeCreators, Served],
) -> None:
    app, _ = fake
    search_id, job_id = new_search(committed_platform, target=100)
    with DiesAfterFetching(provider_settings, pages=3) as api, pytest.raises(Killed):
        SearchRun(
            sessions=committed_platform.sessions,
            api=api,
            job_id=job_id,
            search_id=search_id,
            cache_max_age="7d",
            progress=lambda done, total, message: None,
        ).run()

    run(committed_platform, provider_settings, search_id, job_id)

    requests = search_requests(app, "/v1/tiktok/search/keyword")
    assert requests == {
        "gaming|0": 1,
        "gaming|20": 1,
        "gaming|40": 2,  # the page fetched when the process died, not saved: the one refetch
        "gaming|60": 1,
        "gaming|80": 1,
    }
    found = creator_ids(committed_platform, search_id)
    assert len(found) == len(set(found)) == 100


def test_the_budget_stops_a_search_at_its_limit(
    committed_platform: Platform,
    provider_settings: Settings,
    fake: tuple[FakeScrapeCreators, Served],
) -> None:
    app, _ = fake
    search_id, job_id = new_search(committed_platform, target=1000, credit_budget=7)
    credits_before = app.state.credits

    summary = run(committed_platform, provider_settings, search_id, job_id)

    assert summary["credits_used"] == 7
    assert credits_before - app.state.credits == 7  # what the provider charged
    assert summary["stop_reason"] == "budget"
    assert summary["pages_fetched"] == 7
    assert summary["enriched"] == 0  # nothing left for profiles
    search = load_search(committed_platform, search_id)
    assert search.state == "completed"
    assert search.found == 7 * 20


def test_enrichment_fills_profiles_and_a_second_search_reuses_the_cache(
    committed_platform: Platform,
    provider_settings: Settings,
    fake: tuple[FakeScrapeCreators, Served],
) -> None:
    search_id, job_id = new_search(
        committed_platform, platform="instagram", keywords=["fitness"], target=12
    )

    summary = run(committed_platform, provider_settings, search_id, job_id)

    assert summary["enriched"] == 12
    assert summary["credits_used"] == 1 + 12  # one page, twelve fresh profiles
    with committed_platform.sessions() as session:
        creators = list(session.scalars(select(Creator).where(Creator.search_id == search_id)))
    assert all(c.enriched_at is not None and c.bio for c in creators)
    for c in creators:
        pooled = next(
            x
            for x in map(lambda n: creator("instagram", n), range(600))
            if x["id"] == c.platform_id
        )
        if pooled["email"] and pooled["email"] in pooled["bio"]:
            assert pooled["email"] in c.emails
        assert c.engagement_formula == "instagram: median likes of reels seen / followers"

    again_id, again_job = new_search(
        committed_platform, platform="instagram", keywords=["fitness"], target=12
    )
    again = run(committed_platform, provider_settings, again_id, again_job)
    assert again["credits_used"] == 1  # the same twelve profiles, from the provider's cache


def test_a_similar_search_leaves_out_the_seed_and_says_why_each_matched(
    committed_platform: Platform,
    provider_settings: Settings,
    fake: tuple[FakeScrapeCreators, Served],
) -> None:
    seed = creator("tiktok", 5)
    search_id, job_id = new_search(
        committed_platform, type="similar", keywords=[], seed_handle=seed["handle"], target=150
    )

    run(committed_platform, provider_settings, search_id, job_id)

    search = load_search(committed_platform, search_id)
    assert search.keywords[:3] == seed["topics"][:3] or set(seed["topics"]) <= set(search.keywords)
    with committed_platform.sessions() as session:
        creators = list(session.scalars(select(Creator).where(Creator.search_id == search_id)))
    assert seed["id"] not in {c.platform_id for c in creators}
    assert all(c.match_reason.startswith("found by the searches for") for c in creators)
    assert any(c.match_score > 1 for c in creators)  # some met through several terms


def test_a_creator_is_stored_once_per_campaign_even_if_the_provider_repeats_it(
    committed_platform: Platform,
    provider_settings: Settings,
    fake: tuple[FakeScrapeCreators, Served],
) -> None:
    app, _ = fake
    app.state.duplicates = True  # each page repeats the previous page's last item
    search_id, job_id = new_search(committed_platform, platform="youtube", target=60)

    summary = run(committed_platform, provider_settings, search_id, job_id)

    found = creator_ids(committed_platform, search_id)
    assert len(found) == len(set(found)) == summary["found"] == 60


@pytest.mark.parametrize(
    ("on", "kind"),
    [(p, t) for p in ("tiktok", "instagram", "youtube") for t in ("keyword", "similar")],
)
def test_each_platform_and_type_completes_through_a_worker_despite_failures(
    committed_platform: Platform,
    provider_settings: Settings,
    fake: tuple[FakeScrapeCreators, Served],
    on: str,
    kind: str,
) -> None:
    app, _ = fake
    app.state.failure_rate = 0.3  # 429s and 500s
    seed = creator(on, 3)
    with committed_platform.sessions.begin() as session:
        user = make_user(session)
        org_id = org_of(session, user.id)
        campaign = create_campaign(
            session=session, org_id=org_id, user_id=user.id, fields={"name": "Launch"}
        )
        fields: dict[str, Any] = {
            "platform": on,
            "type": kind,
            "target": 30,
            "credit_budget": 500,
        }
        fields.update(
            keywords=["travel"] if kind == "keyword" else [],
            seed_handle=seed["handle"] if kind == "similar" else None,
        )
        search = add_search(
            session=session, org_id=org_id, campaign_id=campaign.id, user_id=user.id, fields=fields
        )
        kind_of = get_kind("influencers.search")
        assert kind_of is not None
        job, _ = submit(
            session=session,
            dispatcher=committed_platform.dispatcher,
            owner_id=user.id,
            org_id=org_id,
            kind=kind_of,
            params={"search_id": str(search.id)},
        )
        search.job_id = job.id
        search_id = search.id
    worker = RunningWorker(provider_settings).start()
    try:
        done = wait_for(committed_platform, job.id, timeout_s=60)
    finally:
        worker.stop()

    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.result is not None and done.result["found"] == 30
    found = creator_ids(committed_platform, search_id)
    assert len(found) == len(set(found)) == 30
    assert seed["id"] not in found
    assert sum(app.state.requests.values()) > sum(app.state.answered.values())  # failures hit
    with committed_platform.sessions() as session:
        mails = [
            j
            for j in session.scalars(select(Job).where(Job.kind == "email.send"))
            if j.params["to"] == [user.email]
        ]
    assert len(mails) == 1  # once, however many times the job ran
    assert "Found: 30 of 30" in mails[0].params["text"]
    with committed_platform.sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(Creator)
                .where(Creator.enriched_at.is_not(None), Creator.search_id == search_id)
            )
            == 30
        )


def test_an_export_writes_every_creator_as_csv_for_spreadsheets(
    committed_platform: Platform,
    provider_settings: Settings,
    fake: tuple[FakeScrapeCreators, Served],
    tmp_path: Any,
) -> None:
    search_id, search_job = new_search(committed_platform, target=40, credit_budget=3)
    run(committed_platform, provider_settings, search_id, search_job)
    with committed_platform.sessions.begin() as session:
        search = session.get_one(Search, search_id)
        tricky = session.scalars(select(Creator).where(Creator.search_id == search_id)).first()
        assert tricky is not None
        tricky.display_name = '=HYPERLINK("http://evil") "quoted", Zoë'
        owner, campaign_id = search.created_by, search.campaign_id
        kind = get_kind("influencers.export")
        assert kind is not None and owner is not None
        job, _ = submit(
            session=session,
            dispatcher=committed_platform.dispatcher,
            owner_id=owner,
            org_id=search.org_id,
            kind=kind,
            params={"campaign_id": str(campaign_id), "filters": {}},
        )
    storage_settings = provider_settings.replace(storage_url=str(tmp_path))
    worker = RunningWorker(storage_settings).start()
    try:
        done = wait_for(committed_platform, job.id, timeout_s=30)
    finally:
        worker.stop()

    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.result is not None and done.result["rows"] == 40
    assert done.result["download_path"] == f"/api/v1/influencers/exports/{job.id}"
    raw = (tmp_path / "influencers" / "exports" / f"{job.id}.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM
    rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    assert rows[0][:3] == ["platform", "handle", "display_name"]
    assert len(rows) == 41
    assert [r[2] for r in rows if "HYPERLINK" in r[2]] == [
        '\'=HYPERLINK("http://evil") "quoted", Zoë'
    ]


def test_an_export_of_another_organizations_campaign_fails(
    committed_platform: Platform, provider_settings: Settings, tmp_path: Any
) -> None:
    search_id, _ = new_search(committed_platform)
    with committed_platform.sessions.begin() as session:
        campaign_id = session.get_one(Search, search_id).campaign_id
        stranger = make_user(session)
        kind = get_kind("influencers.export")
        assert kind is not None
        job, _ = submit(
            session=session,
            dispatcher=committed_platform.dispatcher,
            owner_id=stranger.id,
            org_id=org_of(session, stranger.id),
            kind=kind,
            params={"campaign_id": str(campaign_id)},
        )
    worker = RunningWorker(provider_settings.replace(storage_url=str(tmp_path))).start()
    try:
        done = wait_for(committed_platform, job.id, timeout_s=30)
    finally:
        worker.stop()
    assert done.status == JobStatus.FAILED
    assert done.attempts == 1
    assert done.error is not None and "campaign not found" in done.error["message"]
    assert list(tmp_path.iterdir()) == []


def test_a_search_job_for_a_search_it_was_not_made_for_fails_and_touches_nothing(
    committed_platform: Platform, provider_settings: Settings
) -> None:
    search_id, _ = new_search(committed_platform)
    with committed_platform.sessions.begin() as session:
        stranger = make_user(session)
        kind = get_kind("influencers.search")
        assert kind is not None
        job, _ = submit(  # as POST /api/v1/jobs would, naming someone else's search
            session=session,
            dispatcher=committed_platform.dispatcher,
            owner_id=stranger.id,
            org_id=org_of(session, stranger.id),
            kind=kind,
            params={"search_id": str(search_id)},
        )
    worker = RunningWorker(provider_settings).start()
    try:
        done = wait_for(committed_platform, job.id, timeout_s=30)
    finally:
        worker.stop()
    assert done.status == JobStatus.FAILED
    assert done.attempts == 1
    search = load_search(committed_platform, search_id)
    assert (search.state, search.pages_fetched, search.credits_used) == ("queued", 0, 0)


def test_excluded_creators_and_those_outside_the_filters_are_skipped(
    committed_platform: Platform, provider_settings: Settings
) -> None:
    first = [creator("tiktok", n) for n in results("tiktok", "gaming", 20)]
    contacted = next(c for c in first if c["followers"] >= 500_000)  # the filters keep it
    search_id, job_id = new_search(
        committed_platform, target=40, credit_budget=6, filters={"followers_min": 500_000}
    )
    with committed_platform.sessions.begin() as session:
        org_id = session.get_one(Search, search_id).org_id
        exclude(
            session=session,
            org_id=org_id,
            platform="tiktok",
            platform_id=contacted["id"],
            reason="contacted",
        )

    run(committed_platform, provider_settings, search_id, job_id)

    with committed_platform.sessions() as session:
        creators = list(session.scalars(select(Creator).where(Creator.search_id == search_id)))
    assert creators
    assert contacted["id"] not in {c.platform_id for c in creators}
    assert all(c.followers is not None and c.followers >= 500_000 for c in creators)
