"""Messages leave only after the transaction that stored their jobs commits."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session

from models.jobs import Job
from tests.conftest import broker_held_jobs, org_of
from tests.worker.conftest import load
from workers.enqueue import submit
from workers.registry import get_kind
from workers.setup import Platform


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
