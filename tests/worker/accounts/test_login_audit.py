"""The accounts domain's periodic job: the login audit keeps attempts for its retention only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from models.accounts import logins
from models.accounts.users import LoginAttempt, utcnow
from models.core.jobs import Job, JobStatus
from tests.worker.conftest import RunningWorker, wait_for
from workers.core.periodic import enqueue_due, load_schedules
from workers.core.setup import Platform


def test_login_attempts_past_their_retention_are_removed_hourly_in_batches(
    committed_platform: Platform,
    monkeypatch: pytest.MonkeyPatch,
    start_worker: Callable[[], RunningWorker],
) -> None:
    p = committed_platform
    assert p.settings.login_audit_retention_days == 90
    assert load_schedules()["accounts.prune_login_attempts"].every_s == 3600
    now = utcnow()
    with p.sessions.begin() as session:
        session.add_all(
            LoginAttempt(
                email=f"a{days}@example.com",
                outcome="bad_credentials",
                at=now - timedelta(days=days),
            )
            for days in (100, 95, 91, 89, 10, 0)
        )
    monkeypatch.setattr(logins, "PRUNE_BATCH", 2)  # three old rows: two batches, then none
    start_worker()

    enqueue_due(sessions=p.sessions, dispatcher=p.dispatcher, now=now - timedelta(hours=1))
    enqueue_due(sessions=p.sessions, dispatcher=p.dispatcher, now=now)
    with p.sessions() as session:
        job_id = session.scalars(
            select(Job.id).where(Job.kind == "accounts.prune_login_attempts")
        ).one()
    job = wait_for(p, job_id)

    with p.sessions() as session:
        kept = sorted(session.scalars(select(LoginAttempt.email)))
    assert (job.status, job.result) == (JobStatus.SUCCEEDED, {"removed": 3, "expired_sign_ins": 0})
    assert kept == ["a0@example.com", "a10@example.com", "a89@example.com"]
