"""The job core through the real Redis broker: success, retries, failures, cancellation,
checkpoints, the effect ledger, redelivery and shutdown."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from config import Settings
from models.core import job_runs
from models.core.access import Viewer
from models.core.jobs import JobEvent, JobStatus, get_job, request_cancel
from tests import kinds
from tests.worker.conftest import RunningWorker, events, eventually, load, submit_job, wait_for
from workers.core.context import MAX_INTERRUPTIONS
from workers.core.enqueue import Dispatch, redrive
from workers.core.registry import get_kind
from workers.core.setup import Platform
from workers.core.tracking import Runtime, backoff_s


def types(platform: Platform, job_id: uuid.UUID) -> list[str]:
    return [e.type for e in events(platform, job_id)]


def test_a_job_runs_to_success_through_the_real_broker(
    committed_platform: Platform, worker: Runtime, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "system.noop")

    job = wait_for(committed_platform, job_id)

    assert job.status == JobStatus.SUCCEEDED
    assert job.result == {}
    assert job.attempts == 1
    assert job.enqueued_at is not None and job.started_at is not None
    assert job.finished_at is not None and job.progress["percent"] == 100.0
    assert types(committed_platform, job_id) == ["queued", "started", "succeeded"]


def test_transient_failures_are_retried_with_backoff_until_success(
    committed_platform: Platform, worker: Runtime, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "test.flaky", {"fail_times": 2})

    job = wait_for(committed_platform, job_id)

    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 3
    assert kinds.CALLS[str(job_id)] == [1, 2, 3]
    history = events(committed_platform, job_id)
    assert [e.type for e in history] == [
        "queued",
        "started",
        "retry_scheduled",
        "started",
        "retry_scheduled",
        "started",
        "succeeded",
    ]
    retries = [e for e in history if e.type == "retry_scheduled"]
    starts = [e for e in history if e.type == "started"]
    for retry, next_start in zip(retries, starts[1:], strict=True):
        assert retry.data["delay_s"] > 0
        waited = (next_start.at - retry.at).total_seconds()
        assert waited >= retry.data["delay_s"] - 0.02, (waited, retry.data)


def test_a_retry_waits_at_least_as_long_as_retry_after_asks(
    committed_platform: Platform, worker: Runtime, owner: uuid.UUID
) -> None:
    job_id = submit_job(
        committed_platform, owner, "test.flaky", {"fail_times": 1, "retry_after_s": 1.5}
    )

    wait_for(committed_platform, job_id)

    history = events(committed_platform, job_id)
    retry = next(e for e in history if e.type == "retry_scheduled")
    second_start = [e for e in history if e.type == "started"][1]
    assert retry.data["delay_s"] >= 1.5
    assert (second_start.at - retry.at).total_seconds() >= 1.5


def test_backoff_grows_exponentially_within_its_bounds() -> None:
    kind = get_kind("email.send")
    assert kind is not None
    ceilings = [kind.min_backoff_ms * 2 ** (n - 1) / 1000 for n in (1, 2, 3)]
    for attempt, ceiling in zip((1, 2, 3), ceilings, strict=True):
        delays = [backoff_s(kind, attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jitter
    assert backoff_s(kind, 50) <= kind.max_backoff_ms / 1000
    assert backoff_s(kind, 1, retry_after_s=120) == 120


def test_a_permanent_failure_fails_at_once(
    committed_platform: Platform, worker: Runtime, owner: uuid.UUID
) -> None:
    job_id = submit_job(
        committed_platform, owner, "test.flaky", {"fail_times": 5, "permanent": True}
    )

    job = wait_for(committed_platform, job_id)

    assert job.status == JobStatus.FAILED
    assert job.attempts == 1
    assert job.error is not None
    assert job.error["type"] == "PermanentError"
    assert job.error["message"] == "the input cannot be processed"
    assert job.error["transient"] is False
    assert types(committed_platform, job_id) == ["queued", "started", "failed"]


def test_an_exhausted_job_lands_in_the_dead_letter_set_and_can_be_redriven(
    committed_platform: Platform, worker: Runtime, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "test.flaky", {"fail_times": 3})

    dead = wait_for(committed_platform, job_id)
    assert dead.status == JobStatus.FAILED
    assert dead.attempts == dead.max_attempts == 3
    assert dead.error is not None and dead.error["transient"] is True
    assert "traceback" in dead.error

    with committed_platform.sessions() as session:
        job = get_job(session=session, job_id=job_id, viewer=Viewer(owner, is_admin=True))
        redrive(session=session, dispatcher=committed_platform.dispatcher, job=job)
        session.commit()
    again = wait_for(committed_platform, job_id)

    assert again.status == JobStatus.SUCCEEDED
    assert again.attempts == 1
    assert again.error is None
    assert types(committed_platform, job_id)[-3:] == ["redriven", "started", "succeeded"]


def test_an_unclassified_exception_is_retried_then_fails_with_its_traceback(
    committed_platform: Platform, worker: Runtime, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "test.bug")

    job = wait_for(committed_platform, job_id)

    assert job.status == JobStatus.FAILED
    assert kinds.CALLS[str(job_id)] == [1, 2]
    assert job.error is not None and job.error["type"] == "KeyError"
    assert "raise KeyError" in job.error["traceback"]


def test_a_redelivered_message_does_not_run_a_finished_job_again(
    committed_platform: Platform, worker: Runtime, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "test.flaky")
    done = wait_for(committed_platform, job_id)
    history = types(committed_platform, job_id)

    # The same message again, as an at-least-once broker may deliver it.
    committed_platform.dispatcher.send([Dispatch(job_id, "test.flaky", "test", str(job_id))])
    committed_platform.dispatcher.send([Dispatch(job_id, "test.flaky", "test", f"{job_id}.dup")])
    committed_platform.broker.join("test", timeout=5000)

    assert kinds.CALLS[str(job_id)] == [1]
    assert load(committed_platform, job_id).updated_at == done.updated_at
    assert types(committed_platform, job_id) == history


def test_cancelling_a_running_job_stops_it_at_its_next_check(
    committed_platform: Platform, worker: Runtime, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "test.wait", {"seconds": 30})
    assert kinds.STARTED[str(job_id)].wait(10)

    with committed_platform.sessions() as session:
        job = get_job(session=session, job_id=job_id, viewer=Viewer(owner, is_admin=True))
        request_cancel(session=session, job=job)
        session.commit()
    job = wait_for(committed_platform, job_id, timeout_s=5)

    assert job.status == JobStatus.CANCELLED, job.error
    assert job.cancel_requested
    assert types(committed_platform, job_id)[-2:] == ["cancel_requested", "cancelled"]


def test_an_effect_is_not_repeated_when_the_job_is_retried(
    committed_platform: Platform, worker: Runtime, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "test.effects")

    job = wait_for(committed_platform, job_id)

    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 2
    assert kinds.SIDE_EFFECTS.count(str(job_id)) == 1
    assert job.result == {"effect_result": job.result["effect_result"]}


def test_a_retried_job_resumes_from_its_checkpoint(
    committed_platform: Platform, worker: Runtime, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "test.pages", {"pages": 5, "fail_at": 2})

    job = wait_for(committed_platform, job_id)

    assert job.status == JobStatus.SUCCEEDED
    assert kinds.PAGES[str(job_id)] == [0, 1, 2, 2, 3, 4]
    assert job.checkpoint == {"page": 5}
    assert job.progress == {"done": 5, "total": 5, "percent": 100.0, "message": None}
    milestones = [
        e.data["percent"] for e in events(committed_platform, job_id) if e.type == "progress"
    ]
    assert milestones == [25, 50, 75]


def test_a_job_cancelled_while_running_is_not_retried_after_a_failure(
    committed_platform: Platform, worker: Runtime, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "test.deaf")
    assert kinds.STARTED[str(job_id)].wait(10)
    with committed_platform.sessions() as session:
        request_cancel(
            session=session,
            job=get_job(session=session, job_id=job_id, viewer=Viewer(owner, is_admin=True)),
        )
        session.commit()

    job = wait_for(committed_platform, job_id)

    assert job.status == JobStatus.CANCELLED
    assert job.attempts == 1
    assert "retry_scheduled" not in types(committed_platform, job_id)


def test_a_result_jsonb_cannot_hold_fails_that_job_alone(
    committed_platform: Platform, worker: Runtime, owner: uuid.UUID
) -> None:
    bad = submit_job(committed_platform, owner, "test.nan")
    good = [submit_job(committed_platform, owner, "system.noop") for _ in range(10)]

    failed = wait_for(committed_platform, bad)

    assert failed.status == JobStatus.FAILED
    assert failed.attempts == 1
    assert failed.error is not None and "not JSON" in failed.error["message"]
    assert all(wait_for(committed_platform, j).status == JobStatus.SUCCEEDED for j in good)


def test_an_idle_worker_is_woken_by_the_enqueue_not_by_its_poll(
    committed_platform: Platform, worker: Runtime, owner: uuid.UUID
) -> None:
    waits = []
    for _ in range(5):
        time.sleep(0.6)  # longer than the worker's 500 ms idle poll: its consumer is waiting
        job = wait_for(committed_platform, submit_job(committed_platform, owner, "system.noop"))
        assert job.started_at is not None
        waits.append((job.started_at - job.created_at).total_seconds())

    assert statistics.median(waits) < 0.1, waits


def test_a_stopping_worker_queues_its_long_job_again_for_another_to_resume(
    settings: Settings,
    committed_platform: Platform,
    start_worker: Callable[[], RunningWorker],
    owner: uuid.UUID,
) -> None:
    first = RunningWorker(replace(settings, worker_shutdown_grace_s=0.2)).start()
    try:
        job_id = submit_job(committed_platform, owner, "system.sleep", {"seconds": 4})
        assert eventually(lambda: load(committed_platform, job_id).progress["done"] >= 1, 10)
        began = time.monotonic()
        first.stop()  # a deploy's SIGTERM: Dramatiq waits for the jobs its threads hold
        took_s = time.monotonic() - began
    finally:
        first.stop()

    # It did not wait out the job's 2+ s left: the job is back in the queue, unfinished,
    # with its checkpoint, and the attempt it lost is not counted against it.
    assert took_s < 2.5, took_s
    job = load(committed_platform, job_id)
    assert job.status == JobStatus.QUEUED
    assert job.attempts == 0
    assert job.checkpoint is not None and job.checkpoint["step"] >= 1
    interrupted = events(committed_platform, job_id)[-1]
    assert (interrupted.type, interrupted.data["attempt"]) == ("interrupted", 1)

    start_worker()
    done = wait_for(committed_platform, job_id)

    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.attempts == 1
    assert done.result["resumed_at_step"] == job.checkpoint["step"]
    history = types(committed_platform, job_id)
    assert history.count("started") == 2, str(history)
    assert "recovered" not in history  # handed back, not left for the sweep


def test_a_stopping_worker_lets_a_job_finish_within_its_grace(
    committed_platform: Platform,
    start_worker: Callable[[], RunningWorker],
    owner: uuid.UUID,
) -> None:
    running = start_worker()  # the default grace: 5 s
    job_id = submit_job(committed_platform, owner, "test.wait", {"seconds": 1})
    assert kinds.STARTED[str(job_id)].wait(10)

    running.stop()

    job = load(committed_platform, job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert "interrupted" not in types(committed_platform, job_id)


def test_a_cancel_that_comes_as_the_worker_stops_wins_over_the_requeue(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "test.wait")  # no worker: it stays queued
    with committed_platform.sessions.begin() as session:
        job = job_runs.claim(session=session, job_id=job_id, worker_id="test:1")
    assert job is not None
    with committed_platform.sessions() as session:  # the cancel lands while the job runs
        viewer = Viewer(owner, is_admin=True)
        request_cancel(session=session, job=get_job(session=session, job_id=job_id, viewer=viewer))
        session.commit()

    with committed_platform.sessions.begin() as session:
        requeued = job_runs.requeue_interrupted(session=session, job=job, delay_s=1)
        retry = job_runs.schedule_retry(session=session, job=job, error={}, delay_s=1)

    assert (requeued, retry) == (None, None)  # neither puts a cancelled job back in the queue
    assert load(committed_platform, job_id).status == JobStatus.RUNNING  # the worker cancels it


def test_a_job_queued_again_by_stopping_workers_too_often_runs_on_through_the_next_stop(
    settings: Settings, committed_platform: Platform, owner: uuid.UUID
) -> None:
    # Else a job that gets its workers stopped would never count a crash (MAX_CRASHES).
    job_id = submit_job(committed_platform, owner, "test.wait", {"seconds": 1.5})
    with committed_platform.sessions.begin() as session:
        session.add_all(
            JobEvent(job_id=job_id, type="interrupted") for _ in range(MAX_INTERRUPTIONS)
        )
    running = RunningWorker(replace(settings, worker_shutdown_grace_s=0.1)).start()
    try:
        assert kinds.STARTED[str(job_id)].wait(10)
    finally:
        running.stop()

    assert load(committed_platform, job_id).status == JobStatus.SUCCEEDED
    assert types(committed_platform, job_id).count("interrupted") == MAX_INTERRUPTIONS


def test_a_redrive_starts_the_count_of_interruptions_afresh(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "test.wait")
    with committed_platform.sessions.begin() as session:
        session.add_all(JobEvent(job_id=job_id, type="interrupted") for _ in range(2))
        session.flush()
        assert job_runs.interruptions(session=session, job_id=job_id) == 2
        session.add(JobEvent(job_id=job_id, type="redriven"))
        session.flush()
        assert job_runs.interruptions(session=session, job_id=job_id) == 0
        session.add(JobEvent(job_id=job_id, type="interrupted"))
        session.flush()
        assert job_runs.interruptions(session=session, job_id=job_id) == 1
