"""Messages leave only after the transaction that stored their jobs commits."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from models.core.jobs import Job, NewJob, create_job
from tests.conftest import broker_held_jobs, org_of
from tests.worker.conftest import load
from workers.core.enqueue import Submission, submit, submit_many
from workers.core.registry import get_kind
from workers.core.setup import Platform


def submit_noop(platform: Platform, session: Session, owner: uuid.UUID) -> str:
    kind = get_kind("system.noop")
    assert kind is not None
    job, _ = submit(
        session=session,
        dispatcher=platform.dispatcher,
        owner_id=owner,
        org_id=org_of(session, owner),
        kind=kind,
        params={},
    )
    return str(job.id)


def test_no_message_is_sent_before_the_commit_even_with_several_jobs(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    with committed_platform.sessions() as session:
        # each submit releases a savepoint of its own
        ids = [submit_noop(committed_platform, session, owner) for _ in range(3)]
        assert broker_held_jobs(committed_platform, "system").isdisjoint(ids)
        session.commit()

    assert set(ids) <= broker_held_jobs(committed_platform, "system")
    assert all(load(committed_platform, uuid.UUID(i)).enqueued_at is not None for i in ids)


def test_a_rolled_back_submission_sends_nothing(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    with committed_platform.sessions() as session:
        job_id = submit_noop(committed_platform, session, owner)
        session.rollback()
        session.execute(text("SELECT 1"))
        session.commit()

    assert job_id not in broker_held_jobs(committed_platform, "system")
    with committed_platform.sessions() as session:
        assert session.get(Job, uuid.UUID(job_id)) is None


def test_two_submissions_racing_on_one_idempotency_key_make_one_job(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    new = NewJob(
        kind="system.noop", queue="system", params={}, max_attempts=1, idempotency_key="race-1"
    )

    def second_submission() -> tuple[uuid.UUID, bool]:
        with committed_platform.sessions() as session:
            job, created = create_job(
                session=session, owner_id=owner, org_id=org_of(session, owner), new=new
            )
            session.commit()
            return job.id, created

    with committed_platform.sessions() as first, ThreadPoolExecutor(1) as pool:
        org_id = org_of(first, owner)
        job, created = create_job(session=first, owner_id=owner, org_id=org_id, new=new)
        second = pool.submit(second_submission)
        time.sleep(0.3)
        assert not second.done()  # its INSERT waits on the first's key, not yet committed
        first.commit()
        second_id, second_created = second.result(timeout=10)

    assert created and not second_created
    assert second_id == job.id  # the loser got the winner's job, in a usable transaction


def test_a_batchs_messages_reach_redis_in_one_round_trip_after_the_commit(
    committed_platform: Platform, owner: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = get_kind("system.noop")
    assert kind is not None
    pool = committed_platform.broker.client.connection_pool  # type: ignore[attr-defined]
    taken: list[int] = []
    get_connection = pool.get_connection

    def counted(*args: Any, **kwargs: Any) -> Any:
        taken.append(1)  # one per command sent, or per pipeline
        return get_connection(*args, **kwargs)

    with committed_platform.sessions() as session:
        results = submit_many(
            session=session,
            dispatcher=committed_platform.dispatcher,
            owner_id=owner,
            org_id=org_of(session, owner),
            submissions=[Submission.checked(kind, {})] * 300,
        )
        monkeypatch.setattr(pool, "get_connection", counted)
        session.commit()
        monkeypatch.undo()

    assert len(taken) == 1
    assert {str(job.id) for job, _ in results} <= broker_held_jobs(committed_platform, "system")
