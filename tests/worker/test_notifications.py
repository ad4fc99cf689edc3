"""The daily notifications job, through the platform's cron, on real domain data: a report
imported by the revenue job, releases reviewed and a withdrawal paid over HTTP, fans added.
Run twice, at once, again and late, it writes each notification once."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from config import Settings
from devstack.fakes import serve
from devstack.fakes.openai import FakeOpenAI
from models import leads, notifications
from models.core.base import utcnow
from models.core.jobs import Job, JobStatus
from models.fans.imports import load_fans
from models.fans.releases import submit_release
from models.revenue.withdrawals import request_withdrawal, set_payout_method
from tests.conftest import access_token, make_user, org_of
from tests.revenue_reports import Report
from tests.worker.conftest import RunningWorker, submit_job, wait_for
from web import create_app
from workers.core.periodic import enqueue_due, load_schedules
from workers.core.setup import Platform
from workers.core.tracking import Runtime

TRACK = {"title": "Song", "artists": ["The Band"], "isrc": "US-RC1-76-07839"}


@dataclass
class Artist:
    user_id: uuid.UUID
    org_id: uuid.UUID
    headers: dict[str, str]


def artist(platform: Platform, *, admin: bool = False) -> Artist:
    with platform.sessions() as session:
        user = make_user(session, admin=admin)
        session.commit()
        token = access_token(platform, session, user)
        return Artist(user.id, org_of(session, user.id), {"Authorization": f"Bearer {token}"})


@pytest.fixture()
def api(committed_platform: Platform) -> FlaskClient:
    return create_app(platform=committed_platform).test_client()


def import_report(api: FlaskClient, platform: Platform, who: Artist) -> str:
    data = Report("distrokid", rows=200, seed=7).bytes()  # USD 2,457.19
    answer = api.post(
        "/api/v1/revenue/uploads",
        data={"file": (io.BytesIO(data), "january.tsv")},
        headers=who.headers,
    )
    assert answer.status_code == 202, answer.json
    assert wait_for(platform, uuid.UUID(answer.json["job"]["id"])).status == JobStatus.SUCCEEDED
    return str(answer.json["upload"]["id"])


def release_under_review(api: FlaskClient, platform: Platform, who: Artist, title: str) -> str:
    body = {"type": "single", "title": title, "artist_name": "The Band", "tracks": [TRACK]}
    answer = api.post("/api/v1/releases", json=body, headers=who.headers)
    assert answer.status_code == 201, answer.json
    resubmit(platform, who, answer.json["id"])
    return str(answer.json["id"])


def resubmit(platform: Platform, who: Artist, release_id: str) -> None:
    """Submit as the artist would once the files passed (their checks have their own tests)."""
    with platform.sessions.begin() as session:
        submit_release(
            session=session,
            org_id=who.org_id,
            release_id=uuid.UUID(release_id),
            user_id=who.user_id,
            files_passed=lambda r: {},
        )


def paid_withdrawal(api: FlaskClient, platform: Platform, who: Artist, admin: Artist) -> str:
    with platform.sessions.begin() as session:
        set_payout_method(session=session, org_id=who.org_id, kind="paypal", details="a@b.example")
        withdrawal = request_withdrawal(
            session=session,
            org_id=who.org_id,
            user_id=who.user_id,
            currency="USD",
            amount=Decimal("25.50"),
            minimum=Decimal("10"),
        )
        withdrawal_id = str(withdrawal.id)
    for action in ("approve", "pay"):
        path = f"/api/v1/wallet/withdrawals/{withdrawal_id}/decision"
        answer = api.post(path, json={"action": action}, headers=admin.headers)
        assert answer.status_code == 200, answer.json
    return withdrawal_id


def add_fans(platform: Platform, who: Artist, count: int) -> None:
    rows = [{"email": f"{uuid.uuid4().hex[:12]}@fans.example"} for _ in range(count)]
    with platform.sessions.begin() as session:
        assert load_fans(session=session, org_id=who.org_id, rows=rows) == count


def next_six_am(now: datetime) -> datetime:
    today = now.astimezone(UTC).replace(hour=6, minute=0, second=0, microsecond=0)
    return today if today > now else today + timedelta(days=1)


def daily_runs(platform: Platform) -> list[Job]:
    with platform.sessions() as session:
        return list(
            session.scalars(
                select(Job).where(Job.kind == "notifications.daily").order_by(Job.created_at)
            )
        )


def keys(platform: Platform, who: Artist) -> list[tuple[str, str]]:
    with platform.sessions() as session:
        rows = session.execute(
            select(notifications.Notification.kind, notifications.Notification.subject).where(
                notifications.Notification.org_id == who.org_id
            )
        )
        return sorted((kind, subject) for kind, subject in rows)


def listed(api: FlaskClient, who: Artist) -> dict[str, Any]:
    answer = api.get("/api/v1/notifications?limit=100", headers=who.headers)
    assert answer.status_code == 200, answer.json
    return dict(answer.json)


def test_the_daily_run_writes_each_change_once_repeated_at_once_or_late(
    api: FlaskClient, committed_platform: Platform, worker: Runtime
) -> None:
    p = committed_platform
    assert load_schedules()["notifications.daily"].cron == "0 6 * * *"
    now = utcnow()
    enqueue_due(sessions=p.sessions, dispatcher=p.dispatcher, now=now - timedelta(days=1))
    alice, bob, admin = artist(p), artist(p), artist(p, admin=True)

    upload_id = import_report(api, p, alice)
    withdrawal_id = paid_withdrawal(api, p, alice, admin)
    approved = release_under_review(api, p, alice, "First Light")
    assert (
        api.post(f"/api/v1/admin/releases/{approved}/approve", headers=admin.headers).status_code
        == 200
    )
    rejected = release_under_review(api, p, bob, "Rough Cut")
    reason = {"reason": "Cover has a URL on it"}
    assert (
        api.post(
            f"/api/v1/admin/releases/{rejected}/reject", json=reason, headers=admin.headers
        ).status_code
        == 200
    )
    add_fans(p, bob, 150)

    # 06:00: the scheduler submits the slot's run; an operator runs the same slot at once.
    slot = next_six_am(now + timedelta(minutes=10))  # after everything above, even at 05:59
    assert "notifications.daily" in enqueue_due(
        sessions=p.sessions, dispatcher=p.dispatcher, now=slot + timedelta(minutes=1)
    )
    again = submit_job(p, admin.user_id, "notifications.daily", {"slot": slot.isoformat()})
    first = [wait_for(p, job.id) for job in daily_runs(p)]
    assert [j.status for j in first] == [JobStatus.SUCCEEDED] * 2
    assert sorted(j.result["created"] for j in first) == [0, 5]  # one after the other
    assert again in {j.id for j in first}

    assert keys(p, alice) == sorted(
        [
            ("import_landed", upload_id),
            ("release_approved", approved),
            ("withdrawal_paid", withdrawal_id),
        ]
    )
    assert keys(p, bob) == sorted([("fan_milestone", "100"), ("release_rejected", rejected)])
    mine = {n["kind"]: n for n in listed(api, alice)["items"]}
    assert mine["withdrawal_paid"]["body"] == "Your withdrawal of 25.5 USD was paid."
    assert mine["import_landed"]["facts"]["rows_imported"] == 200
    assert "january.tsv" in mine["import_landed"]["body"]
    assert "First Light" in mine["release_approved"]["body"]
    theirs = {n["kind"]: n for n in listed(api, bob)["items"]}
    assert "Cover has a URL on it" in theirs["release_rejected"]["body"]
    assert theirs["fan_milestone"]["title"] == "100 fans"
    assert listed(api, bob)["unread"] == 2

    # More happens; the scheduler is away for three days, then runs the latest slot once.
    add_fans(p, bob, 900)
    assert api.post(f"/api/v1/releases/{rejected}/reopen", headers=bob.headers).status_code == 200
    resubmit(p, bob, rejected)
    assert (
        api.post(f"/api/v1/admin/releases/{rejected}/approve", headers=admin.headers).status_code
        == 200
    )
    late = slot + timedelta(days=3)
    assert "notifications.daily" in enqueue_due(
        sessions=p.sessions, dispatcher=p.dispatcher, now=late + timedelta(hours=5)
    )
    caught_up = wait_for(p, daily_runs(p)[-1].id)
    assert (caught_up.params["slot"], caught_up.result["created"]) == (late.isoformat(), 2)
    assert keys(p, bob) == sorted(
        [
            ("fan_milestone", "100"),
            ("fan_milestone", "1000"),
            ("release_approved", rejected),
            ("release_rejected", rejected),
        ]
    )
    assert len(keys(p, alice)) == 3

    # An older slot run again afterwards, and the late one again: nothing new.
    for old in (slot, late):
        rerun = submit_job(p, admin.user_id, "notifications.daily", {"slot": old.isoformat()})
        assert wait_for(p, rerun).result["created"] == 0
    with p.sessions() as session:
        total = session.scalar(select(func.count()).select_from(notifications.Notification))
    assert total == 7
    thousand = next(n for n in listed(api, bob)["items"] if n["title"] == "1,000 fans")
    assert thousand["facts"] == {"milestone": 1000, "fans": 1050}


def test_phrasing_by_the_model_keeps_the_plain_text_when_it_fails_or_the_budget_is_spent(
    settings: Settings, committed_platform: Platform
) -> None:
    p = committed_platform
    fake = FakeOpenAI()
    served = serve(fake)
    phrasing = settings.replace(
        notifications_phrasing=True,
        openai_base_url=served.url + "/v1",
        openai_api_key="sk-test",
        openai_max_retries=0,
    )
    worker = RunningWorker(phrasing).start()
    try:
        artists = [artist(p) for _ in range(3)]
        for who in artists:
            add_fans(p, who, 120)
        *asked, spent = artists
        with p.sessions.begin() as session:
            leads.record_spending(session=session, org_id=spent.org_id, tokens=200_000)
        failing, phrased = sorted(asked, key=lambda a: a.org_id)
        fake.script = ["500", "500"]  # the first organisation asked: both models fail
        admin = artist(p, admin=True)

        run = submit_job(p, admin.user_id, "notifications.daily", {"slot": utcnow().isoformat()})
        job = wait_for(p, run)
    finally:
        worker.stop()
        served.stop()

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["phrasing"] == {"failed": 1, "phrased": 1, "over_budget": 1}
    assert len(fake.requests) == 3  # both models for the first, one for the second
    assert "100 fans" in fake.requests[-1]["messages"][1]["content"]
    with p.sessions() as session:
        by_org = {n.org_id: n for n in session.scalars(select(notifications.Notification))}
        tokens = {
            who.org_id: leads.spending_of(session=session, org_id=who.org_id).tokens
            for who in artists
        }
    for plain in (failing, spent):
        assert by_org[plain.org_id].phrased_by == "template"
        assert by_org[plain.org_id].body == "You passed 100 fans: 120 people are on your list now."
    assert by_org[phrased.org_id].phrased_by == phrasing.openai_model
    assert by_org[phrased.org_id].body != by_org[failing.org_id].body
    assert tokens[phrased.org_id] > 0 and tokens[failing.org_id] == 0
