"""Daily job quotas per tier: what counts, what does not, and what a refusal looks like."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.core.jobs import Job, JobStatus
from models.core.quotas import OrgUsage, Tier, quota_day, quota_resets_at
from models.orgs.organizations import Organization
from tests.api.conftest import Caller, a_job
from tests.conftest import org_of


def set_used(session: Session, org_id: uuid.UUID, jobs: int) -> None:
    """Start the day's counter at `jobs` (instead of submitting that many)."""
    session.merge(OrgUsage(org_id=org_id, day=quota_day(), jobs=jobs))
    session.commit()


def used(session: Session, org_id: uuid.UUID) -> int:
    session.expire_all()
    row = session.get(OrgUsage, (org_id, quota_day()))
    return row.jobs if row else 0


def count_jobs(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Job)) or 0


def test_usage_shows_the_tier_its_daily_limit_and_todays_jobs(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    org_id = org_of(session, alice.user.id)
    client.post("/api/v1/jobs", json=a_job(), headers=alice.headers)

    response = client.get(f"/api/v1/orgs/{org_id}/usage", headers=alice.headers)

    assert response.status_code == 200
    assert response.json == {
        "tier": "free",
        "jobs_per_day": {
            "limit": 100,
            "used": 1,
            "resets_at": quota_resets_at(quota_day()).isoformat(),
        },
        "trial_ends_at": None,  # tests/api/test_billing.py has the trial
        "trial_days_left": None,
    }


def test_the_101st_job_of_the_day_is_refused_and_not_stored(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    org_id = org_of(session, alice.user.id)
    set_used(session, org_id, 100)
    before = count_jobs(session)

    response = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers)

    assert response.status_code == 429
    assert response.json["code"] == "quota_exceeded"
    details = response.json["details"]
    resets_at = datetime.fromisoformat(details.pop("resets_at"))
    assert details == {"quota": "jobs_per_day", "limit": 100, "used": 100, "tier": "free"}
    assert resets_at == quota_resets_at(quota_day())
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 24 * 3600 + 1
    assert abs((resets_at - datetime.now(resets_at.tzinfo)).total_seconds() - retry_after) < 5
    assert count_jobs(session) == before
    assert used(session, org_id) == 100


def test_an_idempotent_replay_does_not_use_quota(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    org_id = org_of(session, alice.user.id)
    set_used(session, org_id, 99)
    headers = alice.with_headers(Idempotency_Key="order-42")

    first = client.post("/api/v1/jobs", json=a_job(), headers=headers)
    replay = client.post("/api/v1/jobs", json=a_job(), headers=headers)
    fresh = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers)

    assert first.status_code == replay.status_code == 202
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json["id"] == first.json["id"]
    assert fresh.status_code == 429
    assert used(session, org_id) == 100


def test_platform_mails_and_diagnostic_jobs_do_not_count(
    client: FlaskClient, admin: Caller, session: Session
) -> None:
    org_id = org_of(session, admin.user.id)
    set_used(session, org_id, 100)

    diagnostic = client.post(
        "/api/v1/jobs", json={"kind": "system.noop", "params": {}}, headers=admin.headers
    )
    invitation = client.post(
        f"/api/v1/orgs/{org_id}/invitations", json={"email": "n@example.com"}, headers=admin.headers
    )

    assert diagnostic.status_code == 202
    assert invitation.status_code == 201  # its mail is an internal email.send job
    mail = session.scalar(select(Job).where(Job.kind == "email.send", Job.org_id == org_id))
    assert mail is not None and mail.internal
    assert used(session, org_id) == 100


def test_a_tier_upgrade_by_a_platform_admin_lifts_the_limit(
    client: FlaskClient, alice: Caller, admin: Caller, session: Session
) -> None:
    org_id = org_of(session, alice.user.id)
    set_used(session, org_id, 100)
    assert client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).status_code == 429

    upgraded = client.patch(
        f"/api/v1/admin/orgs/{org_id}", json={"tier": "creator"}, headers=admin.headers
    )
    accepted = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers)

    assert upgraded.status_code == 200 and upgraded.json["tier"] == "creator"
    assert accepted.status_code == 202
    usage = client.get(f"/api/v1/orgs/{org_id}/usage", headers=alice.headers).json
    assert usage["tier"] == "creator"
    assert (usage["jobs_per_day"]["limit"], usage["jobs_per_day"]["used"]) == (1000, 101)


def test_unlimited_tiers_still_count_their_jobs(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    org_id = org_of(session, alice.user.id)
    session.get_one(Organization, org_id).tier = Tier.ENTERPRISE
    set_used(session, org_id, 50_000)

    accepted = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers)
    usage = client.get(f"/api/v1/orgs/{org_id}/usage", headers=alice.headers).json

    assert accepted.status_code == 202
    assert usage["jobs_per_day"] == {
        "limit": None,
        "used": 50_001,
        "resets_at": quota_resets_at(quota_day()).isoformat(),
    }


def test_retrying_a_failed_job_counts_as_a_job(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    org_id = org_of(session, alice.user.id)
    job_id = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).json["id"]
    job = session.get_one(Job, uuid.UUID(job_id))
    job.status = JobStatus.FAILED
    job.finished_at = job.created_at + timedelta(seconds=1)
    set_used(session, org_id, 100)

    refused = client.post(f"/api/v1/jobs/{job_id}/retry", headers=alice.headers)
    session.expire_all()
    assert session.get_one(Job, job.id).status == JobStatus.FAILED
    set_used(session, org_id, 99)
    retried = client.post(f"/api/v1/jobs/{job_id}/retry", headers=alice.headers)

    assert refused.status_code == 429 and refused.json["code"] == "quota_exceeded"
    assert retried.status_code == 202 and retried.json["status"] == "queued"
    assert used(session, org_id) == 100
