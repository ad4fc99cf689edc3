"""The same job core on RabbitMQ, the broker for larger deployments (BROKER_URL=amqp://…)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import dramatiq
import pytest

from config import Settings
from models.core import ops
from models.core.jobs import JobStatus
from tests import kinds, servers
from tests.worker.conftest import events, load, submit_job, wait_for
from workers.core.broker import capabilities, queue_depth
from workers.core.setup import Platform, connect, start_worker_platform


@pytest.fixture()
def rabbit_settings(settings: Settings, committed_platform: Platform) -> Settings:
    url = servers.rabbitmq_url()
    if not servers.rabbitmq_answers(url):
        # No pip package ships RabbitMQ: on a laptop without it this one test cannot run.
        # CI starts it (.ci/run), and there its absence is a failure, not a skip.
        message = f"RabbitMQ is not reachable at {url}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message + "; start it to run the RabbitMQ broker test")
    return replace(settings, broker_url=url)


@pytest.fixture()
def rabbit_platform(rabbit_settings: Settings) -> Iterator[Platform]:
    platform = connect(rabbit_settings)
    yield platform
    for queue in platform.broker.get_declared_queues():
        platform.broker.flush(queue)
    platform.broker.close()
    platform.engine.dispose()


def test_a_job_runs_and_retries_through_rabbitmq(
    rabbit_settings: Settings, rabbit_platform: Platform, owner: uuid.UUID
) -> None:
    assert type(rabbit_platform.broker).__name__ == "RabbitmqBroker"
    worker_platform, runtime = start_worker_platform(rabbit_settings)
    worker = dramatiq.Worker(worker_platform.broker, worker_threads=4, worker_timeout=100)
    worker.start()
    try:
        plain = submit_job(rabbit_platform, owner, "system.noop", priority=5)
        flaky = submit_job(rabbit_platform, owner, "test.flaky", {"fail_times": 1})
        done, retried = wait_for(rabbit_platform, plain), wait_for(rabbit_platform, flaky)
    finally:
        worker.stop(timeout=10_000)
        runtime.close()
        worker_platform.broker.close()

    assert done.status == JobStatus.SUCCEEDED
    assert retried.status == JobStatus.SUCCEEDED and retried.attempts == 2
    assert "retry_scheduled" in [e.type for e in events(rabbit_platform, flaky)]
    assert queue_depth(rabbit_platform.broker, "system") == 0


def test_a_paused_queue_holds_its_jobs_on_rabbitmq_and_runs_them_once_after_resume(
    rabbit_settings: Settings, rabbit_platform: Platform, owner: uuid.UUID
) -> None:
    with rabbit_platform.sessions.begin() as session:
        assert ops.pause_queue(session=session, queue="test", actor_id=owner)
    worker_platform, runtime = start_worker_platform(rabbit_settings)
    worker = dramatiq.Worker(worker_platform.broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        job_id = submit_job(rabbit_platform, owner, "test.flaky")
        # The worker takes the message off the queue, sees the pause and defers it...
        deadline = time.monotonic() + 15
        while rabbit_platform.broker.get_queue_message_counts("test")[0] and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert rabbit_platform.broker.get_queue_message_counts("test")[0] == 0
        # ...so for as long as the pause lasts the job is not started.
        held_until = time.monotonic() + 2
        while time.monotonic() < held_until:
            job = load(rabbit_platform, job_id)
            assert (job.status, job.attempts) == (JobStatus.QUEUED, 0)
            time.sleep(0.1)

        with rabbit_platform.sessions.begin() as session:
            assert ops.resume_queue(session=session, queue="test")
        done = wait_for(rabbit_platform, job_id, timeout_s=30)
    finally:
        worker.stop(timeout=10_000)
        runtime.close()
        worker_platform.broker.close()

    assert done.status == JobStatus.SUCCEEDED
    assert kinds.CALLS[str(job_id)] == [1]  # ran once: nothing lost, nothing doubled


def test_the_rabbitmq_broker_carries_priorities_and_counts_its_queues(
    rabbit_platform: Platform,
) -> None:
    can = capabilities(rabbit_platform.broker)

    assert can.ping() is True
    assert can.queue_depth("system") == 0
    assert can.priority
    # Acknowledged as its job returns, so the success is written first; no wake-ups, and
    # nothing to drain: the consumers stop with the worker.
    assert (can.wakes_consumers, can.pending_acks, can.drain) == (False, None, None)
