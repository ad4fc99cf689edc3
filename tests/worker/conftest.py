"""A real Dramatiq worker, in this process, on the real Redis broker, and helpers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import pytest
from sqlalchemy import select

from config import Settings
from models.core.jobs import Job, JobEvent, JobStatus
from tests.conftest import make_user, org_of
from workers.core.enqueue import submit
from workers.core.registry import get_kind
from workers.core.setup import Platform, start_worker_platform
from workers.core.tracking import Runtime


class RunningWorker:
    def __init__(self, settings: Settings) -> None:
        self.platform, self.runtime = start_worker_platform(settings)
        # A long idle poll: jobs start at once only because enqueues wake the consumers.
        self.worker = dramatiq.Worker(self.platform.broker, worker_threads=4, worker_timeout=500)
        self.stopped = False

    def start(self) -> RunningWorker:
        self.worker.start()
        return self

    def stop(self) -> None:
        """Stop as on SIGTERM (running jobs get their grace); again, does nothing."""
        if self.stopped:
            return
        self.stopped = True
        self.worker.stop(timeout=10_000)
        self.runtime.close()
        self.platform.broker.close()
        self.platform.engine.dispose()


@pytest.fixture()
def start_worker(
    settings: Settings, committed_platform: Platform
) -> Iterator[Callable[[], RunningWorker]]:
    started: list[RunningWorker] = []

    def start() -> RunningWorker:
        worker = RunningWorker(settings).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture()
def worker(start_worker: Callable[[], RunningWorker]) -> Runtime:
    return start_worker().runtime


@pytest.fixture()
def owner(committed_platform: Platform) -> uuid.UUID:
    with committed_platform.sessions.begin() as session:
        return make_user(session, admin=True).id


def submit_job(
    platform: Platform,
    owner: uuid.UUID,
    kind: str,
    params: dict[str, Any] | None = None,
    **options: Any,
) -> uuid.UUID:
    job_kind = get_kind(kind)
    assert job_kind is not None
    with platform.sessions() as session:
        job, _ = submit(
            session=session,
            dispatcher=platform.dispatcher,
            owner_id=owner,
            org_id=org_of(session, owner),
            kind=job_kind,
            params=params or {},
            **options,
        )
        session.commit()
        return job.id


def load(platform: Platform, job_id: uuid.UUID) -> Job:
    with platform.sessions() as session:
        return session.get_one(Job, job_id)


def events(platform: Platform, job_id: uuid.UUID) -> list[JobEvent]:
    with platform.sessions() as session:
        return list(
            session.scalars(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id))
        )


def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Whether `check()` comes true within `timeout_s` (asked every 10 ms)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def wait_for(
    platform: Platform, job_id: uuid.UUID, *statuses: JobStatus, timeout_s: float = 15.0
) -> Job:
    """Poll until the job reaches one of `statuses` (default: any finished one)."""
    wanted = set(statuses) or {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}
    deadline = time.monotonic() + timeout_s
    while True:
        job = load(platform, job_id)
        if job.status in wanted:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job.status.value} after {timeout_s} s")
        time.sleep(0.02)
