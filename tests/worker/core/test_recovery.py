"""Nothing is lost: failed enqueues, a flushed broker, dead workers and poison messages."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace

import redis
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from models.core import job_runs
from models.core.jobs import JobStatus
from tests.worker.conftest import RunningWorker, events, load, submit_job, wait_for
from workers.core.enqueue import Dispatcher
from workers.core.recovery import sweep
from workers.core.setup import Platform


def backdate(platform: Platform, job_id: uuid.UUID, seconds: float, *columns: str) -> None:
    """Move the job's timestamps into the past, as if that much time had gone by."""
    assignments = ", ".join(f"{c} = {c} - make_interval(secs => :s)" for c in columns)
    with platform.engine.begin() as conn:
        conn.execute(
            text(f"UPDATE jobs SET {assignments} WHERE id = :id"),  # noqa: S608
            {"s": seconds, "id": job_id},
        )


def flush_broker(platform: Platform) -> None:
    """What a Redis restart without persistence, or a FLUSHALL, does to our keys."""
    client = redis.Redis.from_url(platform.settings.redis_url)
    keys = list(client.scan_iter(f"{platform.settings.broker_namespace}:*"))
    if keys:
        client.delete(*keys)


def claim_as_dead_worker(platform: Platform, job_id: uuid.UUID) -> None:
    with platform.sessions.begin() as session:
        assert job_runs.claim(session=session, job_id=job_id, worker_id="gone:1") is not None


def test_a_job_whose_enqueue_failed_is_sent_by_the_sweep(
    committed_platform: Platform, start_worker: Callable[[], RunningWorker], owner: uuid.UUID
) -> None:
    # A broker nobody listens on: every enqueue fails after the commit.
    dead_broker = RedisBroker(url="redis://127.0.0.1:1/0", namespace="nowhere")
    broken = replace(
        committed_platform,
        broker=dead_broker,
        sessions=sessionmaker(bind=committed_platform.engine, expire_on_commit=False),
        dispatcher=Dispatcher(dead_broker, committed_platform.engine),
    )
    broken.dispatcher.install(broken.sessions)
    job_id = submit_job(broken, owner, "system.noop")
    assert load(committed_platform, job_id).enqueued_at is None
    start_worker()

    backdate(committed_platform, job_id, 5, "created_at", "run_after")
    report = sweep(committed_platform)
    job = wait_for(committed_platform, job_id)

    assert report.resent_queued == 1
    assert job.status == JobStatus.SUCCEEDED
    assert [e.type for e in events(committed_platform, job_id)] == [
        "queued",
        "recovered",
        "started",
        "succeeded",
    ]


def test_jobs_lost_in_a_flushed_broker_are_sent_again(
    committed_platform: Platform, start_worker: Callable[[], RunningWorker], owner: uuid.UUID
) -> None:
    job_ids = [submit_job(committed_platform, owner, "system.noop") for _ in range(3)]
    flush_broker(committed_platform)
    start_worker()
    for job_id in job_ids:
        backdate(committed_platform, job_id, 5, "created_at", "run_after", "enqueued_at")

    report = sweep(committed_platform)

    assert report.resent_queued == 3
    for job_id in job_ids:
        assert wait_for(committed_platform, job_id).status == JobStatus.SUCCEEDED


def test_queued_jobs_still_in_the_broker_are_not_sent_twice(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "system.noop")
    backdate(committed_platform, job_id, 5, "created_at", "run_after", "enqueued_at")

    report = sweep(committed_platform)

    assert report.resent_queued == 0
    assert load(committed_platform, job_id).status == JobStatus.QUEUED


def test_a_job_whose_worker_died_is_queued_again_and_finished_by_another(
    committed_platform: Platform, start_worker: Callable[[], RunningWorker], owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "test.flaky", run_at=None)
    flush_broker(committed_platform)  # the dead worker took the message with it
    claim_as_dead_worker(committed_platform, job_id)
    backdate(committed_platform, job_id, 10, "heartbeat_at")
    start_worker()

    report = sweep(committed_platform)
    job = wait_for(committed_platform, job_id)

    assert report.recovered_running == 1
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 2 and job.crashes == 1
    recovered = next(e for e in events(committed_platform, job_id) if e.type == "recovered")
    assert recovered.data["reason"] == "stale_heartbeat"
    assert recovered.data["worker"] == "gone:1"


def test_a_running_job_with_a_fresh_heartbeat_is_left_alone(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "system.noop")
    claim_as_dead_worker(committed_platform, job_id)

    report = sweep(committed_platform)

    assert report.recovered_running == 0
    assert load(committed_platform, job_id).status == JobStatus.RUNNING


def test_a_job_that_keeps_killing_its_worker_is_quarantined(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "system.noop")
    max_crashes = committed_platform.settings.max_crashes
    for crash in range(1, max_crashes + 1):
        claim_as_dead_worker(committed_platform, job_id)
        backdate(committed_platform, job_id, 10, "heartbeat_at")
        sweep(committed_platform)
        job = load(committed_platform, job_id)
        if crash < max_crashes:
            assert job.status == JobStatus.QUEUED, crash
            with committed_platform.engine.begin() as conn:  # give it its attempts back
                conn.execute(text("UPDATE jobs SET attempts = 0 WHERE id = :id"), {"id": job_id})

    assert job.status == JobStatus.FAILED
    assert job.crashes == max_crashes
    assert job.error is not None and job.error["type"] == "PoisonMessage"
    last = events(committed_platform, job_id)[-1]
    assert last.type == "failed" and "quarantined" in (last.message or "")


def test_the_late_result_of_a_worker_that_lost_its_job_is_dropped(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "system.noop")
    with committed_platform.sessions.begin() as session:
        slow = job_runs.claim(session=session, job_id=job_id, worker_id="slow:1")
    assert slow is not None
    backdate(committed_platform, job_id, 10, "heartbeat_at")
    sweep(committed_platform)  # gives the job to someone else
    with committed_platform.sessions.begin() as session:
        assert not job_runs.succeed(session=session, job=slow, result={"late": True})

    job = load(committed_platform, job_id)
    assert job.status == JobStatus.QUEUED
    assert job.result is None


def test_only_one_sweeper_acts_at_a_time(committed_platform: Platform) -> None:
    with committed_platform.engine.connect() as conn, conn.begin():
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": 0x6261636B6C696E65})
        assert sweep(committed_platform).skipped
    assert not sweep(committed_platform).skipped
