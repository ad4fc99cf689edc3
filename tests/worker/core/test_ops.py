"""Operations seen from the workers: paused queues, worker presence, the workers' metrics."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable

import httpx
import redis
from sqlalchemy import event

from models.core import ops
from models.core.jobs import Job, JobStatus, request_cancel
from models.core.ops_stats import running_jobs_of
from tests import kinds
from tests.metrics import parse, value
from tests.worker.conftest import RunningWorker, events, load, submit_job, wait_for
from workers.core import presence
from workers.core.metrics import start_exposition
from workers.core.pauses import PausedQueues
from workers.core.setup import Platform


def deferred_bounces(platform: Platform, queue: str, job_id: uuid.UUID) -> int:
    """How often the job's message went round the delay queue (0: it is not there)."""
    client = redis.Redis.from_url(platform.settings.redis_url)
    raw = client.hvals(f"{platform.settings.broker_namespace}:{queue}.DQ.msgs")
    for message in map(json.loads, raw):
        if message["args"][0] == str(job_id):
            return int(message["options"].get("backline_paused_bounces", 0))
    return 0


def wait_until(check: Callable[[], object], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def test_a_job_of_a_paused_queue_stays_queued_and_runs_once_after_resume(
    committed_platform: Platform, start_worker: Callable[[], RunningWorker], owner: uuid.UUID
) -> None:
    with committed_platform.sessions.begin() as session:
        assert ops.pause_queue(session=session, queue="test", actor_id=owner)
    start_worker()
    job_id = submit_job(committed_platform, owner, "test.flaky")

    # The worker took the message, saw the pause, and put it back delayed: still queued.
    wait_until(lambda: deferred_bounces(committed_platform, "test", job_id) >= 1)
    job = load(committed_platform, job_id)
    assert (job.status, job.attempts, job.started_at) == (JobStatus.QUEUED, 0, None)

    with committed_platform.sessions.begin() as session:
        assert ops.resume_queue(session=session, queue="test")
    job = wait_for(committed_platform, job_id)

    assert job.status == JobStatus.SUCCEEDED
    assert kinds.CALLS[str(job_id)] == [1]  # ran once: nothing lost, nothing doubled
    assert [e.type for e in events(committed_platform, job_id)] == [
        "queued",
        "started",
        "succeeded",
    ]


def test_other_queues_run_while_one_is_paused(
    committed_platform: Platform, start_worker: Callable[[], RunningWorker], owner: uuid.UUID
) -> None:
    with committed_platform.sessions.begin() as session:
        ops.pause_queue(session=session, queue="test", actor_id=owner)
    start_worker()
    paused = submit_job(committed_platform, owner, "test.flaky")
    running = submit_job(committed_platform, owner, "system.noop")

    assert wait_for(committed_platform, running).status == JobStatus.SUCCEEDED
    wait_until(lambda: deferred_bounces(committed_platform, "test", paused) >= 1)
    assert load(committed_platform, paused).status == JobStatus.QUEUED


def test_a_worker_announces_itself_with_its_queues_and_current_jobs(
    committed_platform: Platform, start_worker: Callable[[], RunningWorker], owner: uuid.UUID
) -> None:
    worker = start_worker()
    client = presence.client_for(committed_platform.settings.redis_url)
    namespace = committed_platform.settings.broker_namespace
    job_id = submit_job(committed_platform, owner, "test.wait", {"seconds": 30})
    assert kinds.STARTED[str(job_id)].wait(15)

    alive = presence.alive(client, namespace)
    mine = [p for p in alive if p.worker_id == worker.runtime.worker_id]
    assert len(mine) == 1
    assert mine[0].pid == os.getpid()
    assert {"system", "test"} <= set(mine[0].queues)
    assert not any(q.endswith(".DQ") for q in mine[0].queues)
    with committed_platform.sessions() as session:
        held = running_jobs_of(session=session, worker_ids=[worker.runtime.worker_id])
    assert [j.id for j in held[worker.runtime.worker_id]] == [job_id]

    with committed_platform.sessions.begin() as session:
        request_cancel(session=session, job=session.get_one(Job, job_id))
    wait_for(committed_platform, job_id)
    worker.stop()
    assert worker.runtime.worker_id not in {p.worker_id for p in presence.alive(client, namespace)}


def test_the_workers_metrics_count_jobs_by_kind_and_outcome(
    committed_platform: Platform, start_worker: Callable[[], RunningWorker], owner: uuid.UUID
) -> None:
    server = start_exposition(committed_platform.settings, 0, "127.0.0.1")
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    try:
        _, before = parse(httpx.get(url).text)
        start_worker()
        flaky = submit_job(committed_platform, owner, "test.flaky", {"fail_times": 1})
        bug = submit_job(committed_platform, owner, "test.bug")
        assert wait_for(committed_platform, flaky).status == JobStatus.SUCCEEDED
        assert wait_for(committed_platform, bug).status == JobStatus.FAILED
        names, after = parse(httpx.get(url).text)
    finally:
        server.shutdown()

    assert {"backline_jobs_processed", "backline_job_duration_seconds"} <= names

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    processed = "backline_jobs_processed_total"
    assert grew(processed, kind="test.flaky", outcome="retried") == 1
    assert grew(processed, kind="test.flaky", outcome="succeeded") == 1
    assert grew(processed, kind="test.bug", outcome="retried") == 1  # max_attempts=2
    assert grew(processed, kind="test.bug", outcome="failed") == 1
    assert grew("backline_job_retries_total", kind="test.flaky") == 1
    count = "backline_job_duration_seconds_count"
    assert grew(count, kind="test.flaky", outcome="succeeded") == 1


def test_the_paused_set_is_kept_fresh_by_its_own_thread_so_no_message_waits_on_it(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    readers: list[threading.Thread] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        reads_pauses = statement.startswith("SELECT") and "FROM queue_pauses" in statement
        if reads_pauses and "FOR UPDATE" not in statement:  # not the pause itself
            readers.append(threading.current_thread())

    paused = PausedQueues(committed_platform.sessions, refresh_s=0.5)
    event.listen(committed_platform.engine, "before_cursor_execute", seen)
    paused.start()
    try:
        wait_until(lambda: readers, timeout_s=5)
        with committed_platform.sessions.begin() as session:
            assert ops.pause_queue(session=session, queue="test", actor_id=owner)
        wait_until(lambda: paused.is_paused("test"), timeout_s=3)  # seen within a refresh
        answers = {paused.is_paused("test") for _ in range(100)}
    finally:
        paused.stop()
        event.remove(committed_platform.engine, "before_cursor_execute", seen)

    assert answers == {True}
    assert threading.current_thread() not in readers  # every read was the thread's own
