"""Nothing is lost: failed enqueues, a flushed broker, dead workers and poison messages."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from config import Settings
from models.core import job_runs
from models.core.base import utcnow
from models.core.jobs import JobStatus
from tests.conftest import org_of
from tests.worker.conftest import RunningWorker, events, eventually, load, submit_job, wait_for
from workers.core.broker import LossMarker, build_broker, capabilities, dead_worker_timeout_ms
from workers.core.dramatiq_internals import held_messages
from workers.core.enqueue import Dispatcher, Submission, submit_many
from workers.core.recovery import sweep
from workers.core.registry import get_kind
from workers.core.scheduler import run as run_scheduler
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


def loss_marker(platform: Platform) -> LossMarker:
    marker = capabilities(platform.broker).loss_marker
    assert marker is not None
    return marker


@pytest.fixture(autouse=True)
def marker_in_place(committed_platform: Platform) -> None:
    """As in a running system: the sweep has placed its marker in the broker."""
    loss_marker(committed_platform).place()


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


def test_jobs_lost_in_a_flushed_broker_are_sent_again_at_once(
    committed_platform: Platform, start_worker: Callable[[], RunningWorker], owner: uuid.UUID
) -> None:
    job_ids = [submit_job(committed_platform, owner, "system.noop") for _ in range(3)]
    flush_broker(committed_platform)
    start_worker()

    report = sweep(committed_platform)  # no waiting for them to look lost: the marker is gone

    assert report.resent_lost == 3 and report.resent_queued == 0
    for job_id in job_ids:
        assert wait_for(committed_platform, job_id).status == JobStatus.SUCCEEDED
        recovered = [e for e in events(committed_platform, job_id) if e.type == "recovered"]
        assert [e.data["reason"] for e in recovered] == ["broker_lost"]


def test_after_a_flush_only_the_jobs_whose_message_was_lost_are_sent_again(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    lost = [submit_job(committed_platform, owner, "system.noop") for _ in range(3)]
    flush_broker(committed_platform)
    sent_after = [submit_job(committed_platform, owner, "system.noop") for _ in range(2)]

    report = sweep(committed_platform)

    assert report.resent_lost == 3
    messages = Counter(m.args[0] for m in held_messages(committed_platform.broker, "system"))
    assert messages == {str(job_id): 1 for job_id in [*lost, *sent_after]}  # none twice
    assert sweep(committed_platform).resent_lost == 0  # the marker is back in place


def test_a_job_not_due_yet_is_sent_again_with_its_delay(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    run_at = utcnow() + timedelta(hours=1)
    job_id = submit_job(committed_platform, owner, "system.noop", run_at=run_at)
    flush_broker(committed_platform)

    assert sweep(committed_platform).resent_lost == 1

    (message,) = held_messages(committed_platform.broker, "system")
    assert message.args[0] == str(job_id)
    assert message.queue_name == "system.DQ"
    assert abs(message.options["eta"] / 1000 - run_at.timestamp()) < 5
    assert load(committed_platform, job_id).status == JobStatus.QUEUED


def test_the_first_look_at_a_broker_that_kept_its_messages_sends_nothing_again(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    job_ids = [submit_job(committed_platform, owner, "system.noop") for _ in range(3)]
    loss_marker(committed_platform).remove()  # never placed: the first start of a scheduler

    report = sweep(committed_platform)

    assert report.resent_lost == 0
    assert len(held_messages(committed_platform.broker, "system")) == len(job_ids)
    assert all("recovered" not in [e.type for e in events(committed_platform, j)] for j in job_ids)


def test_messages_lost_while_the_marker_stayed_are_sent_again_once_they_look_lost(
    committed_platform: Platform, start_worker: Callable[[], RunningWorker], owner: uuid.UUID
) -> None:
    # A loss the marker cannot tell (the queue's keys deleted by hand, say): found by waiting.
    job_ids = [submit_job(committed_platform, owner, "system.noop") for _ in range(3)]
    client = redis.Redis.from_url(committed_platform.settings.redis_url)
    client.delete(*client.scan_iter(f"{committed_platform.settings.broker_namespace}:system*"))
    start_worker()
    assert sweep(committed_platform).resent_queued == 0  # not yet: they may still be on time
    for job_id in job_ids:
        backdate(committed_platform, job_id, 5, "created_at", "run_after", "enqueued_at")

    report = sweep(committed_platform)

    assert report.resent_queued == 3 and report.resent_lost == 0
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


def test_messages_a_dead_worker_had_fetched_go_back_to_their_queue_at_the_next_sweep(
    settings: Settings,
    committed_platform: Platform,
    start_worker: Callable[[], RunningWorker],
    owner: uuid.UUID,
) -> None:
    job_id = submit_job(committed_platform, owner, "system.noop")
    queue = f"{settings.broker_namespace}:system"
    doomed = build_broker(settings)  # a worker process that fetched the message, then died
    assert next(doomed.consume("system", prefetch=1, timeout=100)) is not None
    doomed.close()
    assert committed_platform.broker.client.llen(queue) == 0  # only its memory held it

    sweep(committed_platform)
    assert committed_platform.broker.client.llen(queue) == 0  # alive until its heartbeat times out
    time.sleep(dead_worker_timeout_ms(settings) / 1000 + 0.2)
    sweep(committed_platform)
    assert committed_platform.broker.client.llen(queue) == 1
    start_worker()

    assert wait_for(committed_platform, job_id).status == JobStatus.SUCCEEDED


def submit_load(platform: Platform, owner: uuid.UUID, n: int) -> list[uuid.UUID]:
    """`n` jobs in one transaction: half sleep 0.05 s, half do nothing."""
    sleep, noop = get_kind("system.sleep"), get_kind("system.noop")
    assert sleep is not None and noop is not None
    with platform.sessions() as session:
        org_id = org_of(session, owner)
        submissions = [Submission.checked(sleep, {"seconds": 0.05})] * (n // 2) + [
            Submission.checked(noop, {})
        ] * (n - n // 2)
        jobs = submit_many(
            session=session,
            dispatcher=platform.dispatcher,
            owner_id=owner,
            org_id=org_id,
            submissions=submissions,
        )
        session.commit()
        return [job.id for job, _ in jobs]


def counts(platform: Platform) -> Counter[str]:
    """The submitted jobs by status (not the periodic jobs the scheduler submits meanwhile)."""
    with platform.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT status::text, count(*) FROM jobs WHERE owner_id IS NOT NULL GROUP BY 1")
        ).all()
    return Counter(dict(rows))


def test_after_a_flush_under_load_every_job_finishes_within_seconds_not_a_stale_period(
    settings: Settings,
    committed_platform: Platform,
    start_worker: Callable[[], RunningWorker],
    owner: uuid.UUID,
) -> None:
    # The scheduler as deployed, with the production thresholds: a job whose message is
    # lost waits 30 s before it looks lost, and sweeps come every 5 s.
    production = settings.replace(
        queued_stale_s=30.0, heartbeat_stale_s=30.0, heartbeat_interval_s=5.0, sweep_interval_s=5.0
    )
    stop = threading.Event()
    scheduler = threading.Thread(target=run_scheduler, args=(production, stop))
    scheduler.start()
    try:
        start_worker()
        job_ids = submit_load(committed_platform, owner, 200)
        assert eventually(lambda: counts(committed_platform)["succeeded"] >= 10)
        flush_broker(committed_platform)
        flushed = time.monotonic()
        assert counts(committed_platform)["queued"] >= 50  # under load: much was waiting
        job_ids += submit_load(committed_platform, owner, 50)

        eventually(lambda: counts(committed_platform)["succeeded"] == len(job_ids), 40)
        finished_after_s = time.monotonic() - flushed
    finally:
        stop.set()
        scheduler.join()

    assert counts(committed_platform) == {"succeeded": len(job_ids)}
    assert finished_after_s < 15, f"the last job finished {finished_after_s:.1f} s after the flush"
    with committed_platform.engine.connect() as conn:
        starts, resent = conn.execute(
            text(
                """SELECT count(*) FILTER (WHERE type = 'started'),
                          count(*) FILTER (WHERE data->>'reason' = 'broker_lost')
                   FROM job_events JOIN jobs ON jobs.id = job_events.job_id
                   WHERE jobs.owner_id IS NOT NULL"""
            )
        ).one()
    assert starts == len(job_ids)  # each ran once
    assert resent > 0
