"""Messages leave only after the transaction that stored their jobs commits."""

from __future__ import annotations

import json
import uuid

import redis
from sqlalchemy import text

from tests.worker.conftest import load
from workers.enqueue import submit
from workers.registry import get_kind
from workers.setup import Platform


def held(platform: Platform, queue: str) -> set[str]:
    client = redis.Redis.from_url(platform.settings.redis_url)
    raw = client.hvals(f"{platform.settings.broker_namespace}:{queue}.msgs")
    return {json.loads(m)["args"][0] for m in raw}


def test_no_message_is_sent_before_the_commit_even_with_several_jobs(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    kind = get_kind("system.noop")
    assert kind is not None
    with committed_platform.sessions() as session:
        ids = []
        for _ in range(3):  # each submit releases a savepoint of its own
            job, _ = submit(
                session=session,
                dispatcher=committed_platform.dispatcher,
                owner_id=owner,
                kind=kind,
                params={},
            )
            ids.append(str(job.id))
        assert held(committed_platform, "system").isdisjoint(ids)
        session.commit()

    assert set(ids) <= held(committed_platform, "system")
    assert all(load(committed_platform, uuid.UUID(i)).enqueued_at is not None for i in ids)


def test_a_rolled_back_submission_sends_nothing(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    kind = get_kind("system.noop")
    assert kind is not None
    with committed_platform.sessions() as session:
        job, _ = submit(
            session=session,
            dispatcher=committed_platform.dispatcher,
            owner_id=owner,
            kind=kind,
            params={},
        )
        job_id = str(job.id)
        session.rollback()
        session.execute(text("SELECT 1"))
        session.commit()

    assert job_id not in held(committed_platform, "system")
    with committed_platform.sessions() as session:
        assert session.get(type(job), job.id) is None
