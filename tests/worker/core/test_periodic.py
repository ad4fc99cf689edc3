"""Periodic jobs: each slot's job is created once, whoever asks, and runs as any job does."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg.errors import CheckViolation
from sqlalchemy import select

from config import Settings
from models.core.jobs import Job, JobStatus, NewJob, create_job
from tests.worker.conftest import RunningWorker, wait_for
from workers.core import periodic, registry
from workers.core.context import JobContext
from workers.core.periodic import Backoff, enqueue_due
from workers.core.setup import Platform, connect

T0 = datetime(2026, 12, 6, 12, 0, 30, tzinfo=UTC)


def _tick(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Say which slot it ran for."""
    return {"slot": params["slot"].isoformat()}


@pytest.fixture()
def declare(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Declare periodic kinds for this test only, the only schedules while it runs (the
    registries are put back after)."""
    monkeypatch.setattr(registry, "_KINDS", registry.load_kinds())  # the domains imported
    monkeypatch.setattr(periodic, "_SCHEDULES", {})

    def declare(name: str, **schedule: Any) -> None:
        periodic.periodic(name, queue="test", **schedule)(_tick)

    return declare


@pytest.fixture()
def two_schedulers(settings: Settings, committed_platform: Platform) -> Iterator[list[Platform]]:
    platforms = [connect(settings, pool_size=1) for _ in range(2)]
    yield platforms
    for p in platforms:
        p.engine.dispose()


def slots_of(platform: Platform, kind: str) -> Counter[str]:
    """How many jobs of `kind` there are for each slot."""
    with platform.sessions() as session:
        rows = session.scalars(select(Job.params["slot"].astext).where(Job.kind == kind))
        return Counter(rows)


def test_each_slot_is_submitted_once_by_two_schedulers_asking_at_the_same_moment(
    two_schedulers: list[Platform], declare: Callable[..., None]
) -> None:
    declare("test.every_minute", cron="* * * * *")
    rounds = 12
    barrier = threading.Barrier(2)
    submitted: list[list[str]] = [[], []]

    def scheduler(i: int) -> None:
        p = two_schedulers[i]
        for minute in range(rounds):
            barrier.wait()
            now = T0 + timedelta(minutes=minute)
            submitted[i] += enqueue_due(sessions=p.sessions, dispatcher=p.dispatcher, now=now)

    threads = [threading.Thread(target=scheduler, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    slots = slots_of(two_schedulers[0], "test.every_minute")
    # The first minute only makes the schedule known; each later one runs once.
    expected = {
        (T0.replace(second=0) + timedelta(minutes=m)).isoformat(): 1 for m in range(1, rounds)
    }
    assert slots == expected
    assert sorted(submitted[0] + submitted[1]) == ["test.every_minute"] * (rounds - 1)


def test_slots_missed_while_no_scheduler_ran_are_run_once_at_the_latest_slot(
    committed_platform: Platform, declare: Callable[..., None]
) -> None:
    declare("test.hourly", every_s=3600)
    p = committed_platform
    noon = T0.replace(minute=0, second=0)

    def due(now: datetime) -> list[str]:
        return enqueue_due(sessions=p.sessions, dispatcher=p.dispatcher, now=now)

    assert due(noon) == []  # first seen: it starts with the next slot
    assert due(noon + timedelta(minutes=30)) == []
    assert due(noon + timedelta(hours=3, minutes=10)) == ["test.hourly"]
    assert due(noon + timedelta(hours=3, minutes=50)) == []
    assert slots_of(p, "test.hourly") == {(noon + timedelta(hours=3)).isoformat(): 1}


def test_a_slots_job_runs_on_a_worker_as_a_platform_job_operators_see(
    committed_platform: Platform,
    declare: Callable[..., None],
    start_worker: Callable[[], RunningWorker],
) -> None:
    declare("test.minutely", every_s=60)
    p = committed_platform
    start_worker()
    enqueue_due(sessions=p.sessions, dispatcher=p.dispatcher, now=T0)
    enqueue_due(sessions=p.sessions, dispatcher=p.dispatcher, now=T0 + timedelta(minutes=1))

    with p.sessions() as session:
        job_id = session.scalars(select(Job.id).where(Job.kind == "test.minutely")).one()
        states = {s.name: s for s in periodic.states(session=session, now=T0)}
    job = wait_for(p, job_id)

    assert job.status == JobStatus.SUCCEEDED
    assert (job.owner_id, job.org_id, job.internal) == (None, None, True)
    slot = T0.replace(second=0) + timedelta(minutes=1)
    assert job.result == {"slot": slot.isoformat()}
    state = states["test.minutely"]
    assert (state.every, state.last_slot_at, state.last_job_id) == ("every 60 s", slot, job_id)
    assert state.next_slot_at == T0.replace(second=0) + timedelta(minutes=1)


def test_a_schedule_that_cannot_be_submitted_holds_no_other_back_and_is_retried_later(
    committed_platform: Platform,
    declare: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    declare("test.fine", every_s=60)
    periodic.periodic("test.broken", every_s=60, queue="q" * 101)(_tick)  # too long to store
    p = committed_platform
    backoff = Backoff()

    def due(now: datetime) -> list[str]:
        return enqueue_due(sessions=p.sessions, dispatcher=p.dispatcher, now=now, backoff=backoff)

    due(T0)  # both first seen
    with caplog.at_level(logging.WARNING, logger="backline.periodic"):
        first = due(T0 + timedelta(minutes=1))
        again = due(T0 + timedelta(minutes=1))
    failures = [r for r in caplog.records if r.message.startswith("periodic job not submitted")]

    assert first == ["test.fine"] and again == []
    assert [r.kind for r in failures] == ["test.broken"]  # held back, not retried every tick
    assert not backoff.ready("test.broken") and backoff.ready("test.fine")
    assert slots_of(p, "test.broken") == {}


def test_a_job_without_owner_or_organisation_must_be_the_platforms_own(
    committed_platform: Platform,
) -> None:
    users_job = NewJob(kind="test.tick", queue="test", params={}, max_attempts=1)

    with (
        committed_platform.sessions() as session,
        pytest.raises(CheckViolation, match="ck_jobs_owner"),
    ):
        create_job(session=session, owner_id=None, org_id=None, new=users_job)
