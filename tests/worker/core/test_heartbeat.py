"""The heartbeat brings back where each held job stands: held, cancel requested, or lost."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from config import Settings
from models.core import job_runs
from models.core.job_runs import Hold
from tests.worker.conftest import submit_job
from workers.core.heartbeat import Heartbeat
from workers.core.presence import Announcer
from workers.core.setup import Platform


def test_each_beat_brings_back_the_hold_of_every_job_held(
    settings: Settings, committed_platform: Platform, owner: uuid.UUID
) -> None:
    ids = [submit_job(committed_platform, owner, "system.noop") for _ in range(3)]
    with committed_platform.sessions.begin() as session:
        held, cancelled, lost = (
            job_runs.claim(session=session, job_id=i, worker_id="w:1") for i in ids
        )
    assert held is not None and cancelled is not None and lost is not None
    announcer = Announcer(settings.redis_url, settings.broker_namespace, 1.0)
    heartbeat = Heartbeat(committed_platform.sessions, announcer, 1.0)
    for job in (held, cancelled, lost):
        heartbeat.hold(job)
    with committed_platform.engine.begin() as conn:
        conn.execute(
            text("UPDATE jobs SET cancel_requested_at = now() WHERE id = :id"), {"id": cancelled.id}
        )
        conn.execute(
            text("UPDATE jobs SET lease_id = gen_random_uuid() WHERE id = :id"), {"id": lost.id}
        )

    heartbeat.beat_once()

    assert [heartbeat.hold_of(j.id) for j in (held, cancelled, lost)] == [
        Hold.HELD,
        Hold.CANCEL_REQUESTED,
        Hold.LOST,
    ]
    assert heartbeat.held() == 3
    assert heartbeat.release(held) and not heartbeat.release(held)  # let go of once
    assert heartbeat.held() == 2
