"""Batches end to end: through the API to real workers, and batches racing on their keys."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.core.jobs import Job, JobStatus, NewJob, create_jobs
from models.core.quotas import Tier, jobs_used_today
from models.orgs.organizations import Organization
from tests import kinds
from tests.conftest import access_token, make_user, org_of
from tests.worker.conftest import RunningWorker
from web import create_app
from workers.core.setup import Platform


def succeeded(session: Session, job_ids: list[uuid.UUID]) -> int:
    query = select(func.count()).where(Job.id.in_(job_ids), Job.status == JobStatus.SUCCEEDED)
    return session.scalar(query) or 0


def test_a_batch_of_500_jobs_all_run_once_and_succeed(
    committed_platform: Platform, start_worker: Callable[[], RunningWorker]
) -> None:
    p = committed_platform
    with p.sessions() as session:
        user = make_user(session)
        org_id = org_of(session, user.id)
        session.get_one(Organization, org_id).tier = Tier.ENTERPRISE
        session.commit()
        token = access_token(p, session, user)
    client = create_app(platform=p).test_client()
    items = [
        {"kind": "test.flaky", "params": {}, "idempotency_key": f"row-{i}"} for i in range(500)
    ]
    start_worker()

    response = client.post(
        "/api/v1/jobs/batch", json={"items": items}, headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 202
    job_ids = [uuid.UUID(job["id"]) for job in response.json["items"]]
    assert len(set(job_ids)) == 500
    deadline = time.monotonic() + 60
    with p.sessions() as session:
        while succeeded(session, job_ids) < 500 and time.monotonic() < deadline:
            session.rollback()
            time.sleep(0.1)
        assert succeeded(session, job_ids) == 500
        assert jobs_used_today(session=session, org_id=org_id) == 500
    assert all(kinds.CALLS[str(job_id)] == [1] for job_id in job_ids)


def test_two_batches_racing_on_the_same_keys_make_one_job_per_key_without_deadlock(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    keys = [f"race-{i}" for i in range(50)]

    def batch(order: list[str]) -> dict[str, tuple[uuid.UUID, bool]]:
        news = [
            NewJob(kind="system.noop", queue="system", params={}, max_attempts=1, idempotency_key=k)
            for k in order
        ]
        with committed_platform.sessions() as session:
            org_id = org_of(session, owner)
            results = create_jobs(session=session, owner_id=owner, org_id=org_id, news=news)
            time.sleep(0.2)  # hold the rows while the other batch reaches them
            session.commit()
        return {k: (job.id, created) for k, (job, created) in zip(order, results, strict=True)}

    with ThreadPoolExecutor(2) as pool:
        forward = pool.submit(batch, keys)
        backward = pool.submit(batch, keys[::-1])
        a, b = forward.result(timeout=30), backward.result(timeout=30)

    assert all(a[k][0] == b[k][0] for k in keys)  # both answer the same job for each key
    assert all(a[k][1] != b[k][1] for k in keys)  # which one created it
    with committed_platform.sessions() as session:
        count = select(func.count()).where(Job.owner_id == owner)
        assert session.scalar(count) == 50
