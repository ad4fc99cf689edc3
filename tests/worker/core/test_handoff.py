"""A finished job's message is acknowledged only once its success is written, off the worker
thread, and many acknowledgements go to Redis in one round trip."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from dramatiq.middleware import TimeLimitExceeded
from sqlalchemy import text

from config import Settings
from models.core.jobs import JobStatus
from tests.conftest import broker_held_jobs
from tests.kinds import STARTED
from tests.worker.conftest import RunningWorker, eventually, load, submit_job, wait_for
from workers.core.broker import build_broker
from workers.core.setup import Platform
from workers.core.wakeup import WakeableConsumer, WakeableRedisBroker

QUEUE = "ack-test"


@pytest.fixture()
def broker(settings: Settings) -> Iterator[WakeableRedisBroker]:
    broker = build_broker(settings)
    assert isinstance(broker, WakeableRedisBroker)
    broker.declare_queue(QUEUE)
    broker.flush(QUEUE)
    yield broker
    broker.flush(QUEUE)
    broker.close()


def fetched(broker: WakeableRedisBroker, n: int) -> tuple[WakeableConsumer, list[Any]]:
    """Send `n` messages and take them from the queue, unacknowledged."""
    for i in range(n):
        broker.enqueue(dramatiq.Message(QUEUE, "nobody", (i,), {}, {}))
    consumer = broker.consume(QUEUE, prefetch=n, timeout=100)
    messages: list[Any] = []
    deadline = time.monotonic() + 5
    while len(messages) < n and time.monotonic() < deadline:
        message = next(consumer)
        if message is not None:
            messages.append(message)
    assert len(messages) == n
    return consumer, messages


def held(broker: WakeableRedisBroker) -> int:
    """How many of the queue's messages Redis still holds (acknowledged ones are deleted)."""
    return int(broker.client.hlen(f"{broker.namespace}:{QUEUE}.msgs"))


def test_ack_all_acknowledges_each_message_it_names_and_no_other(
    broker: WakeableRedisBroker,
) -> None:
    consumer, messages = fetched(broker, 3)
    assert held(broker) == 3  # fetched, not yet acknowledged

    broker.ack_all([(QUEUE, m.options["redis_message_id"]) for m in messages[:1]])
    assert held(broker) == 2
    broker.client.script_flush()  # as after a Redis restart: the script must be loaded again
    broker.ack_all([(QUEUE, messages[1].options["redis_message_id"])])

    assert held(broker) == 1
    consumer.ack(messages[2])
    assert held(broker) == 0


def test_an_ack_waits_for_the_success_then_goes_out_by_itself(
    broker: WakeableRedisBroker,
) -> None:
    consumer, (message,) = fetched(broker, 1)
    pending = broker.pending_acks.add(message)

    consumer.ack(message)  # Dramatiq acknowledges as the job returns; the write is pending

    assert held(broker) == 1
    assert consumer.outstanding() == 1  # its prefetch place stays taken
    pending.written()
    assert eventually(lambda: held(broker) == 0)
    assert eventually(lambda: consumer.outstanding() == 0)


def test_a_dead_lettering_waits_for_the_success_too(broker: WakeableRedisBroker) -> None:
    consumer, (message,) = fetched(broker, 1)
    pending = broker.pending_acks.add(message)

    consumer.nack(message)  # the job failed after handing its success over (retries spent)

    assert held(broker) == 1
    dead = f"{broker.namespace}:{QUEUE}.XQ.msgs"
    assert broker.client.hlen(dead) == 0
    pending.written()
    assert held(broker) == 0
    assert broker.client.hlen(dead) == 1


def test_a_success_written_before_dramatiq_acknowledges_is_acknowledged_at_once(
    broker: WakeableRedisBroker,
) -> None:
    consumer, (message,) = fetched(broker, 1)
    broker.pending_acks.add(message).written()

    consumer.ack(message)

    assert held(broker) == 0
    assert len(broker.pending_acks) == 0


def test_a_job_message_stays_with_the_broker_until_its_success_is_committed(
    settings: Settings, committed_platform: Platform, owner: uuid.UUID
) -> None:
    worker = RunningWorker(settings).start()
    try:
        job_id = submit_job(committed_platform, owner, "test.wait", {"seconds": 2})
        assert STARTED[str(job_id)].wait(10)
        # Its progress report is written too: from here on only the success touches the row.
        assert eventually(lambda: load(committed_platform, job_id).progress_message == "waiting")
        # Hold the job's row: the success, once handed over, cannot be written meanwhile.
        with committed_platform.engine.connect() as conn:
            conn.execute(text("SELECT 1 FROM jobs WHERE id = :id FOR UPDATE"), {"id": job_id})
            assert eventually(lambda: writer_waits_on_a_lock(committed_platform))
            time.sleep(0.2)  # the worker thread has long returned and Dramatiq acknowledged

            assert str(job_id) in broker_held_jobs(committed_platform, "test")
            assert not threads_waiting_on_the_writer()  # the worker thread went on
            conn.rollback()

        assert wait_for(committed_platform, job_id).status == JobStatus.SUCCEEDED
        assert eventually(lambda: str(job_id) not in broker_held_jobs(committed_platform, "test"))
    finally:
        worker.stop()


def test_a_hand_over_cut_short_still_lets_go_of_the_message(
    settings: Settings,
    committed_platform: Platform,
    owner: uuid.UUID,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = RunningWorker(settings)

    def cut_short(*_args: object) -> None:
        raise TimeLimitExceeded  # as Dramatiq's time limit would, in the worker thread

    monkeypatch.setattr(worker.runtime.writer, "succeed_soon", cut_short)
    worker.start()
    try:
        job_id = submit_job(committed_platform, owner, "system.noop")
        assert eventually(lambda: load(committed_platform, job_id).attempts == 1)
        # Dramatiq sends a retry of the message (whose claim finds the job running and does
        # nothing); the original is acknowledged too, once the writer has nothing before it.
        assert eventually(lambda: str(job_id) not in broker_held_jobs(committed_platform, "system"))
        assert eventually(lambda: worker.runtime.heartbeat.held() == 0)  # for the sweep to take
    finally:
        worker.stop()


def threads_waiting_on_the_writer() -> list[int]:
    """The threads of this process waiting for the state writer's answer."""
    waiting = []
    for ident, frame in sys._current_frames().items():
        f: Any = frame
        while f is not None:
            if f.f_code.co_name == "_ask" and "statewriter" in f.f_code.co_filename:
                waiting.append(ident)
                break
            f = f.f_back
    return waiting


def writer_waits_on_a_lock(platform: Platform) -> bool:
    with platform.engine.connect() as conn:
        return bool(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock' "
                    "AND application_name = 'backline-state-writer'"
                )
            )
        )
