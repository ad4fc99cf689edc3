"""Lead search end to end on a real worker: OpenAI and Brave fakes driven through the real
openai SDK and httpx, company sites on loopback addresses, real PostgreSQL and Redis."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import redis
import standardwebhooks
from sqlalchemy import select
from werkzeug.wrappers import Request, Response

from config import Settings
from devstack.fakes import Served, serve
from devstack.fakes.brave import FakeBrave
from devstack.fakes.neverbounce import KEY as NEVERBOUNCE_KEY
from devstack.fakes.neverbounce import FakeNeverBounce
from devstack.fakes.openai import FakeOpenAI
from devstack.fakes.sites import Site, serve_sites
from models import leads
from models.accounts import User
from models.core.base import utcnow
from models.core.jobs import Job, JobStatus, request_cancel
from models.webhooks import DeliveryStatus, WebhookDelivery, create_endpoint
from tests.conftest import access_token, make_user, org_of
from tests.dns import DnsServer
from tests.worker.conftest import RunningWorker, eventually, load, submit_job, wait_for
from web import create_app
from workers.core.setup import Platform
from workers.core.storage import storage

SITES = 4


@dataclass
class Fakes:
    openai: FakeOpenAI
    brave: FakeBrave
    sites: list[Site]
    settings: Settings


@pytest.fixture()
def fakes(settings: Settings, committed_platform: Platform) -> Iterator[Fakes]:
    # The search cache and pace are kept in Redis under the run's namespace: each test anew.
    client = redis.Redis.from_url(settings.redis_url)
    for key in client.scan_iter(f"{settings.broker_namespace}:brave:*"):
        client.delete(key)
    client.close()
    sites = serve_sites(SITES)
    dns_server = DnsServer(
        {f"acme{i}.example": [f"10 mx.acme{i}.example"] for i in range(SITES)},
        slow={"slow.example"},
    )
    openai, brave = FakeOpenAI(), FakeBrave(rate_per_s=20, sites=[s.url for s, _ in sites])
    served: list[Served] = [serve(openai), serve(brave)]
    yield Fakes(
        openai,
        brave,
        [site for _, site in sites],
        settings.replace(
            openai_base_url=served[0].url + "/v1",
            brave_base_url=served[1].url + "/res/v1",
            openai_max_retries=2,
            outbound_allowed_networks=("127.0.0.0/8",),
            leads_pages_per_query=2,
            leads_dns_nameservers=(dns_server.address,),
            leads_dns_timeout_s=0.5,
        ),
    )
    dns_server.stop()
    for server in [*served, *(s for s, _ in sites)]:
        server.stop()


@pytest.fixture()
def run_worker(fakes: Fakes) -> Iterator[list[RunningWorker]]:
    started: list[RunningWorker] = []
    yield started
    for worker in started:
        worker.stop()


def start(run_worker: list[RunningWorker], settings: Settings) -> None:
    run_worker.append(RunningWorker(settings).start())


def new_goal(platform: Platform, owner: uuid.UUID, **values: object) -> uuid.UUID:
    with platform.sessions.begin() as session:
        goal = leads.create_goal(
            session=session,
            org_id=org_of(session, owner),
            user_id=owner,
            new=leads.NewGoal(
                goal=str(values.get("goal", "Sell scheduling software to plumbers")),
                lead_count=int(values.get("lead_count", 25)),  # type: ignore[call-overload]
                location="Austin, Texas",
            ),
        )
        return goal.id


def goal_row(platform: Platform, goal_id: uuid.UUID) -> leads.Goal:
    with platform.sessions() as session:
        return session.get_one(leads.Goal, goal_id)


def leads_of(platform: Platform, goal_id: uuid.UUID) -> list[leads.Lead]:
    with platform.sessions() as session:
        return list(session.scalars(select(leads.Lead).where(leads.Lead.goal_id == goal_id)))


def run_goal(platform: Platform, owner: uuid.UUID, goal_id: uuid.UUID) -> leads.Goal:
    job = wait_for(
        platform, submit_job(platform, owner, "leads.strategy", {"goal_id": str(goal_id)})
    )
    assert job.status == JobStatus.SUCCEEDED, job.error
    goal = goal_row(platform, goal_id)
    assert goal.search_job_id is not None
    search = wait_for(platform, goal.search_job_id, timeout_s=60)
    assert search.status == JobStatus.SUCCEEDED, search.error
    return goal_row(platform, goal_id)


def test_a_goal_becomes_a_strategy_then_scored_leads_one_per_company(
    committed_platform: Platform, owner: uuid.UUID, fakes: Fakes, run_worker: list[RunningWorker]
) -> None:
    start(run_worker, fakes.settings)
    goal_id = new_goal(committed_platform, owner)

    goal = run_goal(committed_platform, owner, goal_id)

    assert goal.status == leads.GoalStatus.DONE
    assert goal.strategy is not None and len(goal.strategy["queries"]) == 3
    assert goal.model == fakes.settings.openai_model
    assert goal.prompt_tokens > 0 and goal.completion_tokens > 0
    request = fakes.openai.requests[0]
    assert request["response_format"]["json_schema"]["name"] == "lead_strategy"
    assert "Austin, Texas" in request["messages"][1]["content"]
    assert goal.searches == fakes.brave.calls > 0
    found = leads_of(committed_platform, goal_id)
    # Every result of every page of every query points at one of the sites: one lead each.
    assert sorted(lead.domain for lead in found) == [f"127.0.0.{i + 2}" for i in range(SITES)]
    for lead in found:
        index = int(lead.domain.rsplit(".", 1)[1]) - 2
        assert lead.company_name.startswith("Acme ")
        assert f"owner.acme{index}@acme{index}.example" in lead.emails
        assert f"info@acme{index}.example" in lead.emails
        assert any("linkedin.com/company" in s for s in lead.social)
        assert lead.phones and lead.score >= 50
        assert any("named person's e-mail" in r for r in lead.score_reasons)
    assert all("/robots.txt" in site.hits for site in fakes.sites)
    # The found addresses are checked by themselves once the search is done.
    with committed_platform.sessions() as session:
        validation = session.scalars(select(Job).where(Job.kind == "leads.validate")).one()
    assert wait_for(committed_platform, validation.id).status == JobStatus.SUCCEEDED
    with committed_platform.sessions() as session:
        verdicts = {c.email: c.verdict for c in session.scalars(select(leads.EmailCheck))}
    assert verdicts == {
        **{f"owner.acme{i}@acme{i}.example": "valid" for i in range(SITES)},
        **{f"info@acme{i}.example": "risky" for i in range(SITES)},
    }


def test_throttled_and_failing_answers_are_retried_without_duplicate_leads(
    committed_platform: Platform, owner: uuid.UUID, fakes: Fakes, run_worker: list[RunningWorker]
) -> None:
    start(run_worker, fakes.settings)
    fakes.openai.script = ["429", "500"]
    fakes.brave.script = ["429", "500", "429"]
    goal_id = new_goal(committed_platform, owner)

    goal = run_goal(committed_platform, owner, goal_id)

    assert len(fakes.openai.requests) == 3  # the SDK retried both failures
    assert fakes.brave.rejected == 2  # waited out in the client
    assert goal.search_job_id is not None
    # The 500 failed the first attempt; the second resumed from its checkpoint.
    assert load(committed_platform, goal.search_job_id).attempts == 2
    assert len(fakes.brave.queries) == len(set(fakes.brave.queries))
    assert len(leads_of(committed_platform, goal_id)) == SITES
    assert goal.status == leads.GoalStatus.DONE


def test_the_fallback_model_writes_the_strategy_when_the_first_fails(
    committed_platform: Platform, owner: uuid.UUID, fakes: Fakes, run_worker: list[RunningWorker]
) -> None:
    settings = fakes.settings.replace(openai_model="broken-model", openai_max_retries=0)
    start(run_worker, settings)
    goal_id = new_goal(committed_platform, owner)

    goal = run_goal(committed_platform, owner, goal_id)

    assert goal.model == settings.openai_fallback_model
    assert [r["model"] for r in fakes.openai.requests] == ["broken-model", goal.model]


def test_a_second_goal_reuses_cached_searches_and_merges_into_the_same_leads(
    committed_platform: Platform, owner: uuid.UUID, fakes: Fakes, run_worker: list[RunningWorker]
) -> None:
    start(run_worker, fakes.settings)
    first = run_goal(committed_platform, owner, new_goal(committed_platform, owner))
    calls = fakes.brave.calls

    second = run_goal(committed_platform, owner, new_goal(committed_platform, owner))

    assert fakes.brave.calls == calls  # the same queries: answered from the cache
    assert second.searches == 0 and first.searches == calls
    with committed_platform.sessions() as session:
        org_leads = list(session.scalars(select(leads.Lead)))
    assert len(org_leads) == SITES  # merged into the first goal's leads


def test_brave_pacing_holds_across_two_worker_processes(
    committed_platform: Platform, owner: uuid.UUID, fakes: Fakes, run_worker: list[RunningWorker]
) -> None:
    fakes.brave.rate_per_s = 5
    start(run_worker, fakes.settings)
    start(run_worker, fakes.settings)
    goals = [
        new_goal(committed_platform, owner, goal=f"Sell to {trade} firms")
        for trade in ("roofing", "dental", "bakery", "landscaping")
    ]
    jobs = [
        submit_job(committed_platform, owner, "leads.strategy", {"goal_id": str(g)}) for g in goals
    ]
    for job_id in jobs:
        assert wait_for(committed_platform, job_id).status == JobStatus.SUCCEEDED
    for goal_id in goals:
        search_id = goal_row(committed_platform, goal_id).search_job_id
        assert search_id is not None
        assert wait_for(committed_platform, search_id, timeout_s=60).status == JobStatus.SUCCEEDED

    assert fakes.brave.calls >= 12  # 4 goals × 3 queries, at least a page each
    assert fakes.brave.rejected == 0  # never faster than the plan, though 8 threads asked


def spend(platform: Platform, owner: uuid.UUID, *, tokens: int = 0, searches: int = 0) -> None:
    with platform.sessions.begin() as session:
        leads.record_spending(
            session=session, org_id=org_of(session, owner), tokens=tokens, searches=searches
        )


def test_a_spent_token_budget_stops_the_strategy_before_openai_is_asked(
    committed_platform: Platform, owner: uuid.UUID, fakes: Fakes, run_worker: list[RunningWorker]
) -> None:
    start(run_worker, fakes.settings)
    free = leads.BUDGETS[leads.Tier.FREE]
    assert free.tokens is not None
    spend(committed_platform, owner, tokens=free.tokens - 100)
    goal_id = new_goal(committed_platform, owner)

    job = wait_for(
        committed_platform,
        submit_job(committed_platform, owner, "leads.strategy", {"goal_id": str(goal_id)}),
    )

    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert job.error is not None and job.error["type"] == "BudgetExceeded"
    assert job.error["message"].startswith("budget_exceeded: ")
    assert fakes.openai.requests == []
    assert goal_row(committed_platform, goal_id).status == leads.GoalStatus.FAILED


def test_a_spent_search_budget_stops_the_search_before_a_paid_call(
    committed_platform: Platform, owner: uuid.UUID, fakes: Fakes, run_worker: list[RunningWorker]
) -> None:
    start(run_worker, fakes.settings)
    free = leads.BUDGETS[leads.Tier.FREE]
    assert free.searches is not None
    spend(committed_platform, owner, searches=free.searches - 2)
    goal_id = new_goal(committed_platform, owner)

    job = wait_for(
        committed_platform,
        submit_job(committed_platform, owner, "leads.strategy", {"goal_id": str(goal_id)}),
    )
    assert job.status == JobStatus.SUCCEEDED
    search_id = goal_row(committed_platform, goal_id).search_job_id
    assert search_id is not None
    search = wait_for(committed_platform, search_id, timeout_s=30)

    assert search.status == JobStatus.FAILED
    assert search.error is not None and search.error["type"] == "BudgetExceeded"
    assert fakes.brave.calls == 2  # the two the budget had left
    with committed_platform.sessions() as session:
        spent = leads.spending_of(session=session, org_id=org_of(session, owner))
    assert spent.searches == free.searches
    assert (
        spent.tokens
        == goal_row(committed_platform, goal_id).prompt_tokens
        + goal_row(committed_platform, goal_id).completion_tokens
    )


def test_a_job_for_another_organizations_goal_touches_nothing(
    committed_platform: Platform, owner: uuid.UUID, fakes: Fakes, run_worker: list[RunningWorker]
) -> None:
    start(run_worker, fakes.settings)
    goal_id = new_goal(committed_platform, owner)
    with committed_platform.sessions.begin() as session:
        stranger = make_user(session).id

    job = wait_for(
        committed_platform,
        submit_job(committed_platform, stranger, "leads.strategy", {"goal_id": str(goal_id)}),
    )

    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert job.error is not None and "no goal" in job.error["message"]
    assert fakes.openai.requests == []
    goal = goal_row(committed_platform, goal_id)
    assert goal.strategy is None and goal.status == leads.GoalStatus.PLANNING


def test_each_address_gets_a_verdict_with_its_reasons_and_source(
    committed_platform: Platform, owner: uuid.UUID, fakes: Fakes, run_worker: list[RunningWorker]
) -> None:
    start(run_worker, fakes.settings)
    emails = [
        "jane@acme1.example",
        "sales@acme1.example",
        "someone@mailinator.com",
        "ghost@nowhere.example",
        "who@slow.example",
        "not-an-address@",
    ]
    with committed_platform.sessions.begin() as session:
        lead = leads.create_lead(
            session=session,
            org_id=org_of(session, owner),
            actor_id=owner,
            domain="acme1.example",
            values={"emails": emails},
            score=0,
            score_reasons=[],
        )

    job = wait_for(
        committed_platform,
        submit_job(committed_platform, owner, "leads.validate", {"lead_ids": [str(lead.id)]}),
    )

    assert job.status == JobStatus.SUCCEEDED
    with committed_platform.sessions() as session:
        checks = {c.email: c for c in leads.checks_of(session=session, lead_id=lead.id)}
    verdicts = {email: check.verdict for email, check in checks.items()}
    assert verdicts == {
        "jane@acme1.example": "valid",
        "sales@acme1.example": "risky",
        "someone@mailinator.com": "invalid",  # its domain answers NXDOMAIN here
        "ghost@nowhere.example": "invalid",
        "who@slow.example": "unknown",
        "not-an-address@": "invalid",
    }
    assert checks["jane@acme1.example"].reasons == ["mail servers: mx.acme1.example"]
    assert checks["ghost@nowhere.example"].reasons == ["the domain takes no mail: no such domain"]
    assert all(c.source == "syntax+mx" and c.checked_at is not None for c in checks.values())
    assert job.result == {
        "leads": 1,
        "verdicts": {"valid": 1, "risky": 1, "invalid": 3, "unknown": 1},
    }

    again = wait_for(
        committed_platform,
        submit_job(committed_platform, owner, "leads.validate", {"lead_ids": [str(lead.id)]}),
    )
    # Fresh verdicts stand; the unknown one is asked again.
    assert again.result == {"leads": 1, "verdicts": {"fresh": 5, "unknown": 1}}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_report_is_written_as_csv_or_xlsx_with_every_lead(
    committed_platform: Platform,
    owner: uuid.UUID,
    fakes: Fakes,
    run_worker: list[RunningWorker],
    tmp_path: Path,
    fmt: str,
) -> None:
    settings = fakes.settings.replace(storage_url=str(tmp_path))
    start(run_worker, settings)
    with committed_platform.sessions.begin() as session:
        org_id = org_of(session, owner)
        for n, name in enumerate(["Acme", '=HYPERLINK("http://evil")', "Zed"]):
            leads.create_lead(
                session=session,
                org_id=org_id,
                actor_id=owner,
                domain=f"c{n}.example",
                values={"company_name": name, "emails": [f"a@c{n}.example"]},
                score=n,
                score_reasons=[],
            )
        report = leads.create_report(
            session=session, org_id=org_id, user_id=owner, format=fmt, filters={}
        )

    job = wait_for(
        committed_platform,
        submit_job(committed_platform, owner, "leads.report", {"report_id": str(report.id)}),
    )

    assert job.status == JobStatus.SUCCEEDED, job.error
    with committed_platform.sessions() as session:
        ready = session.get_one(leads.Report, report.id)
    assert ready.rows == 3 and ready.storage_key is not None and ready.size
    path = tmp_path / ready.storage_key
    if fmt == "csv":
        rows = list(csv.reader(path.read_text().splitlines()))
    else:
        sheet = openpyxl.load_workbook(path, read_only=True)["Leads"]
        rows = [["" if c is None else str(c) for c in r] for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == list(leads.COLUMNS)
    assert sorted(r[0] for r in rows[1:]) == ["c0.example", "c1.example", "c2.example"]
    names = {r[0]: r[1] for r in rows[1:]}
    assert names["c1.example"] == '\'=HYPERLINK("http://evil")'  # not a formula
    assert {r[0]: r[4] for r in rows[1:]}["c2.example"] == "a@c2.example"


def test_a_cancelled_search_stops_between_calls_and_says_so_on_the_goal(
    committed_platform: Platform, owner: uuid.UUID, fakes: Fakes, run_worker: list[RunningWorker]
) -> None:
    fakes.brave.rate_per_s = 2  # about 0.65 s a call: six calls take a few seconds
    start(run_worker, fakes.settings)
    goal_id = new_goal(committed_platform, owner)
    wait_for(
        committed_platform,
        submit_job(committed_platform, owner, "leads.strategy", {"goal_id": str(goal_id)}),
    )
    search_id = goal_row(committed_platform, goal_id).search_job_id
    assert search_id is not None
    assert eventually(lambda: fakes.brave.calls >= 1, timeout_s=10)

    with committed_platform.sessions.begin() as session:
        request_cancel(session=session, job=session.get_one(Job, search_id))
    job = wait_for(committed_platform, search_id, timeout_s=15)

    assert job.status == JobStatus.CANCELLED
    assert fakes.brave.calls < 6  # 3 queries × 2 pages were planned
    assert goal_row(committed_platform, goal_id).status == leads.GoalStatus.CANCELLED
    assert leads_of(committed_platform, goal_id) == []


def test_an_imported_csv_makes_leads_skips_known_domains_and_lists_bad_lines(
    committed_platform: Platform,
    owner: uuid.UUID,
    fakes: Fakes,
    run_worker: list[RunningWorker],
    tmp_path: Path,
) -> None:
    settings = fakes.settings.replace(storage_url=str(tmp_path))
    start(run_worker, settings)
    with committed_platform.sessions.begin() as session:
        org_id = org_of(session, owner)
        leads.create_lead(
            session=session,
            org_id=org_id,
            actor_id=owner,
            domain="known.example",
            values={},
            score=0,
            score_reasons=[],
        )
    key = f"leads/{org_id}/imports/{uuid.uuid4().hex}.csv"
    rows = (
        "domain,company_name,emails,tags,status\r\n"
        "www.acme.example,Acme,jane@acme.example;info@acme.example,hot;austin,qualified\r\n"
        "known.example,Known,,,\r\n"
        "not a domain,Bad,,,\r\n"
        "bad-mail.example,Bad mail,jane@,,\r\n"
        "beta.example,Beta,,,contacted\r\n"
    )
    storage(settings).put(key, io.BytesIO(rows.encode()))

    job = wait_for(
        committed_platform, submit_job(committed_platform, owner, "leads.import", {"key": key})
    )

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result == {
        "created": 2,
        "duplicates": 1,
        "invalid": 2,
        "errors": [
            {"line": 4, "error": "domain 'not a domain' is not a domain name"},
            {"line": 5, "error": "not an e-mail address: 'jane@'"},
        ],
    }
    with committed_platform.sessions() as session:
        acme = session.scalars(select(leads.Lead).where(leads.Lead.domain == "acme.example")).one()
    assert acme.emails == ["jane@acme.example", "info@acme.example"]
    assert acme.tags == ["hot", "austin"] and acme.status == leads.LeadStatus.QUALIFIED
    assert acme.source == "manual" and acme.score == 35
    assert not storage(settings).exists(key)  # the upload is not kept


def test_an_import_of_another_organizations_file_is_refused(
    committed_platform: Platform, owner: uuid.UUID, fakes: Fakes, run_worker: list[RunningWorker]
) -> None:
    start(run_worker, fakes.settings)
    key = f"leads/{uuid.uuid4()}/imports/{uuid.uuid4().hex}.csv"

    job = wait_for(
        committed_platform, submit_job(committed_platform, owner, "leads.import", {"key": key})
    )

    assert job.status == JobStatus.FAILED and "another organization" in job.error["message"]  # type: ignore[index]


def test_a_verification_provider_judges_addresses_its_errors_sent_with_200_handled(
    committed_platform: Platform, owner: uuid.UUID, fakes: Fakes, run_worker: list[RunningWorker]
) -> None:
    provider = FakeNeverBounce()
    served = serve(provider)
    settings = fakes.settings.replace(
        neverbounce_base_url=served.url + "/v4", neverbounce_api_key=NEVERBOUNCE_KEY
    )
    start(run_worker, settings)
    provider.script = ["throttle"]  # HTTP 200 with status throttle_triggered
    emails = [
        "jane@acme1.example",
        "catchall@acme1.example",
        "bad.bob@acme1.example",
        "ghost@nowhere.example",
    ]
    with committed_platform.sessions.begin() as session:
        lead = leads.create_lead(
            session=session,
            org_id=org_of(session, owner),
            actor_id=owner,
            domain="acme1.example",
            values={"emails": emails},
            score=0,
            score_reasons=[],
        )

    job = wait_for(
        committed_platform,
        submit_job(committed_platform, owner, "leads.validate", {"lead_ids": [str(lead.id)]}),
        timeout_s=30,
    )
    served.stop()

    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2  # the throttle was retried
    with committed_platform.sessions() as session:
        checks = {c.email: c for c in leads.checks_of(session=session, lead_id=lead.id)}
    assert {e: c.verdict for e, c in checks.items()} == {
        "jane@acme1.example": "valid",
        "catchall@acme1.example": "risky",
        "bad.bob@acme1.example": "invalid",
        "ghost@nowhere.example": "invalid",  # no mail servers: the provider is not paid for it
    }
    assert checks["jane@acme1.example"].source == "syntax+mx+neverbounce"
    assert checks["jane@acme1.example"].reasons[-1] == "neverbounce: valid"
    assert "ghost@nowhere.example" not in provider.checked


def test_a_refused_provider_key_fails_the_validation_at_once(
    committed_platform: Platform, owner: uuid.UUID, fakes: Fakes, run_worker: list[RunningWorker]
) -> None:
    provider = FakeNeverBounce()
    served = serve(provider)
    start(
        run_worker,
        fakes.settings.replace(
            neverbounce_base_url=served.url + "/v4", neverbounce_api_key="wrong"
        ),
    )
    with committed_platform.sessions.begin() as session:
        lead = leads.create_lead(
            session=session,
            org_id=org_of(session, owner),
            actor_id=owner,
            domain="acme1.example",
            values={"emails": ["jane@acme1.example"]},
            score=0,
            score_reasons=[],
        )

    job = wait_for(
        committed_platform,
        submit_job(committed_platform, owner, "leads.validate", {"lead_ids": [str(lead.id)]}),
    )
    served.stop()

    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert job.error is not None and "auth_failure" in job.error["message"]


def test_a_goal_runs_end_to_end_over_http_to_validated_scored_leads(
    committed_platform: Platform, owner: uuid.UUID, fakes: Fakes, run_worker: list[RunningWorker]
) -> None:
    start(run_worker, fakes.settings)
    client = create_app(platform=committed_platform).test_client()
    with committed_platform.sessions() as session:
        token = access_token(committed_platform, session, session.get_one(User, owner))
    headers = {"Authorization": f"Bearer {token}"}

    started = client.post(
        "/api/v1/leads/goals",
        json={"goal": "Sell scheduling software to plumbers", "location": "Austin, Texas"},
        headers=headers,
    )
    assert started.status_code == 202
    goal_url = f"/api/v1/leads/goals/{started.get_json()['goal']['id']}"

    def goal_done() -> bool:
        return client.get(goal_url, headers=headers).get_json()["status"] == "done"

    assert eventually(goal_done, timeout_s=60)
    goal = client.get(goal_url, headers=headers).get_json()
    found = client.get(f"/api/v1/leads?goal_id={goal['id']}", headers=headers).get_json()
    assert len(found["items"]) == SITES
    assert all(lead["score"] >= 50 and lead["score_reasons"] for lead in found["items"])

    def validated() -> bool:
        page = client.get(f"/api/v1/leads?goal_id={goal['id']}&validated=true", headers=headers)
        return len(page.get_json()["items"]) == SITES

    assert eventually(validated, timeout_s=30)
    detail = client.get(f"/api/v1/leads/{found['items'][0]['id']}", headers=headers).get_json()
    assert {c["verdict"] for c in detail["email_checks"]} == {"valid", "risky"}
    assert detail["history"][0]["actor_id"] is None  # made by the search
    results = client.get(f"{goal_url}/results", headers=headers).get_json()["items"]
    assert len({r["url"] for r in results}) == len(results) == SITES


def test_scheduled_reports_are_made_once_per_period_and_their_link_mailed(
    committed_platform: Platform,
    owner: uuid.UUID,
    fakes: Fakes,
    run_worker: list[RunningWorker],
    tmp_path: Path,
) -> None:
    settings = fakes.settings.replace(storage_url=str(tmp_path))
    start(run_worker, settings)
    start(run_worker, settings)
    now = utcnow()
    slot = now + timedelta(days=7)  # next week: the weekly report covers this one
    with committed_platform.sessions.begin() as session:
        other = make_user(session)
        other_id, other_email = other.id, other.email
        org_id, other_org = org_of(session, owner), org_of(session, other.id)
        leads.create_lead(
            session=session,
            org_id=org_id,
            actor_id=owner,
            domain="acme.example",
            values={"company_name": "Acme"},
            score=3,
            score_reasons=[],
        )
        weekly = leads.create_schedule(
            session=session,
            org_id=org_id,
            user_id=owner,
            frequency="weekly",
            format="csv",
            now=now,
        ).id
        monthly = leads.create_schedule(
            session=session,
            org_id=other_org,
            user_id=other_id,
            frequency="monthly",
            format="xlsx",
            now=now - timedelta(days=62),  # made months ago: the last month's report is due
        ).id

    # Two runs for the same slot at once (two schedulers, or a retried job): one report each.
    runs = [
        submit_job(committed_platform, owner, "leads.scheduled_reports", {"slot": slot.isoformat()})
        for _ in range(2)
    ]
    for run in runs:
        assert wait_for(committed_platform, run).status == JobStatus.SUCCEEDED
    with committed_platform.sessions() as session:
        reports = list(
            session.scalars(
                select(leads.Report).where(leads.Report.schedule_id.in_([weekly, monthly]))
            )
        )
    assert len(reports) == 2
    made = {r.schedule_id: r for r in reports}
    mine, theirs = made[weekly], made[monthly]
    assert (mine.org_id, mine.format, theirs.org_id, theirs.format) == (
        org_id,
        "csv",
        other_org,
        "xlsx",
    )
    week = leads.period_at("weekly", slot)
    assert mine.filters == {"since": week.previous.isoformat(), "until": week.start.isoformat()}

    for report in (mine, theirs):
        assert report.job_id is not None
        assert wait_for(committed_platform, report.job_id).status == JobStatus.SUCCEEDED
    with committed_platform.sessions() as session:
        assert session.get_one(leads.Report, mine.id).rows == 1  # the lead made this week
        mails = list(
            session.scalars(
                select(Job).where(Job.kind == "email.send", Job.org_id.in_([org_id, other_org]))
            )
        )
    to = {tuple(m.params["to"]): m.params["text"] for m in mails}
    assert len(mails) == 2  # each requester once
    owner_email = _email_of(committed_platform, owner)
    assert f"/api/v1/leads/analytics/reports/{mine.id}/download" in to[(owner_email,)]
    assert f"/api/v1/leads/analytics/reports/{theirs.id}/download" in to[(other_email,)]
    assert "acme.example" not in to[(owner_email,)]  # a link, not the file

    # The same period again: nothing new.
    again = wait_for(
        committed_platform,
        submit_job(
            committed_platform, owner, "leads.scheduled_reports", {"slot": slot.isoformat()}
        ),
    )
    assert again.status == JobStatus.SUCCEEDED
    with committed_platform.sessions() as session:
        count = len(
            list(
                session.scalars(
                    select(leads.Report.id).where(leads.Report.schedule_id.in_([weekly, monthly]))
                )
            )
        )
    assert count == 2


def _email_of(platform: Platform, user_id: uuid.UUID) -> str:
    with platform.sessions() as session:
        return session.get_one(User, user_id).email


class Hooks:
    """A local receiver of webhook deliveries: keeps each request, answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.received.append((request.get_data(), dict(request.headers)))
        return Response("ok", 200)(environ, start_response)


def deliveries_to(platform: Platform, endpoint_id: uuid.UUID) -> list[WebhookDelivery]:
    with platform.sessions() as session:
        return list(
            session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
            )
        )


def run_report(platform: Platform, user_id: uuid.UUID, report_id: uuid.UUID) -> None:
    job = wait_for(
        platform, submit_job(platform, user_id, "leads.report", {"report_id": str(report_id)})
    )
    assert job.status == JobStatus.SUCCEEDED, job.error


def test_a_finished_search_and_a_ready_report_reach_subscribed_endpoints_once(
    committed_platform: Platform,
    owner: uuid.UUID,
    fakes: Fakes,
    run_worker: list[RunningWorker],
    tmp_path: Path,
) -> None:
    start(run_worker, fakes.settings.replace(storage_url=str(tmp_path)))
    hooks = Hooks()
    served = serve(hooks)
    try:
        with committed_platform.sessions.begin() as session:
            org_id = org_of(session, owner)
            mine = create_endpoint(
                session=session,
                org_id=org_id,
                url=served.url + "/hooks",
                events=["leads.search.finished", "leads.report.ready"],
            )
            other_user = make_user(session).id
            other_org = org_of(session, other_user)
            # The other organisation wants search events only: its report sends nothing.
            theirs = create_endpoint(
                session=session,
                org_id=other_org,
                url=served.url + "/theirs",
                events=["leads.search.finished"],
            )
            reports = [
                leads.create_report(session=session, org_id=o, user_id=u, format="csv", filters={})
                for o, u in ((org_id, owner), (other_org, other_user))
            ]
            mine_id, secret, theirs_id = mine.id, mine.secret, theirs.id
        goal_id = new_goal(committed_platform, owner)

        run_goal(committed_platform, owner, goal_id)
        # The search job runs again (a retry, a repeated message): no second event.
        again = wait_for(
            committed_platform,
            submit_job(committed_platform, owner, "leads.search", {"goal_id": str(goal_id)}),
            timeout_s=60,
        )
        assert again.status == JobStatus.SUCCEEDED, again.error
        for report, user_id in zip(reports, (owner, other_user), strict=True):
            run_report(committed_platform, user_id, report.id)
        run_report(committed_platform, owner, reports[0].id)  # written again: not announced

        assert eventually(
            lambda: (
                all(
                    d.status == DeliveryStatus.DELIVERED
                    for d in deliveries_to(committed_platform, mine_id)
                )
                and len(hooks.received) == 2
            ),
            timeout_s=20,
        )
    finally:
        served.stop()
    assert sorted(d.event_type for d in deliveries_to(committed_platform, mine_id)) == [
        "leads.report.ready",
        "leads.search.finished",
    ]
    assert deliveries_to(committed_platform, theirs_id) == []
    got = {}
    for body, headers in hooks.received:
        payload = standardwebhooks.Webhook(secret).verify(body, headers)
        got[payload["type"]] = payload["data"]
    finished = got["leads.search.finished"]
    assert (finished["goal_id"], finished["status"]) == (str(goal_id), "done")
    assert finished["new_leads"] == SITES
    ready = got["leads.report.ready"]
    assert (ready["report_id"], ready["format"], ready["rows"]) == (
        str(reports[0].id),
        "csv",
        SITES,
    )
    assert ready["download_url"].endswith(f"/leads/analytics/reports/{reports[0].id}/download")
