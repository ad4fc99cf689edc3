"""Long polling: GET /jobs/<id>?wait=N answers as soon as the job changes, and a POST with
`Prefer: wait=N` as soon as its job has finished."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from flask import g
from flask.testing import FlaskClient
from psycopg.pq import TransactionStatus
from sqlalchemy.orm import Session
from werkzeug.datastructures import ETags

from models.accounts.users import User
from models.core.access import Role, Viewer
from models.core.db import Prepared, driver_connection
from models.core.jobs import get_job, request_cancel
from tests.conftest import access_token, org_of
from tests.worker.conftest import submit_job
from web import create_app
from web.core.context import db
from web.core.jobs import _reload, _wait_for_change
from workers.core.setup import Platform
from workers.core.tracking import Runtime


@pytest.fixture()
def client(committed_platform: Platform) -> FlaskClient:
    return create_app(platform=committed_platform).test_client()


def auth(platform: Platform, owner: uuid.UUID, **extra: str) -> dict[str, str]:
    with platform.sessions() as session:
        token = access_token(platform, session, session.get_one(User, owner))
    return {"Authorization": f"Bearer {token}", **extra}


def test_a_waiting_poll_returns_when_the_job_changes_not_at_the_deadline(
    client: FlaskClient, committed_platform: Platform, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "test.wait")  # no worker: stays queued
    headers = auth(committed_platform, owner)
    etag = client.get(f"/api/v1/jobs/{job_id}", headers=headers).headers["ETag"]

    def cancel_soon() -> None:
        time.sleep(0.5)
        with committed_platform.sessions() as session:
            request_cancel(
                session=session,
                job=get_job(session=session, job_id=job_id, viewer=Viewer(owner, is_admin=True)),
            )
            session.commit()

    threading.Thread(target=cancel_soon).start()
    started = time.monotonic()
    response = client.get(
        f"/api/v1/jobs/{job_id}?wait=10", headers={**headers, "If-None-Match": etag}
    )
    took = time.monotonic() - started

    assert response.status_code == 200
    assert response.json["status"] == "cancelled"
    # Woken by the change feed, well before the 1 s fallback re-read would have seen it.
    assert 0.4 < took < 0.9


def test_a_waiting_poll_with_no_change_answers_304_at_the_deadline(
    client: FlaskClient, committed_platform: Platform, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "test.wait")
    headers = auth(committed_platform, owner)
    etag = client.get(f"/api/v1/jobs/{job_id}", headers=headers).headers["ETag"]

    started = time.monotonic()
    response = client.get(
        f"/api/v1/jobs/{job_id}?wait=1", headers={**headers, "If-None-Match": etag}
    )

    assert response.status_code == 304
    assert 0.9 < time.monotonic() - started < 2


def test_a_client_follows_a_running_job_to_the_end_in_few_requests(
    client: FlaskClient, committed_platform: Platform, worker: Runtime, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "system.sleep", {"seconds": 2})
    headers = auth(committed_platform, owner)
    seen, etag, requests = [], None, 0
    while requests < 20:
        response = client.get(
            f"/api/v1/jobs/{job_id}?wait=5",
            headers={**headers, **({"If-None-Match": etag} if etag else {})},
        )
        requests += 1
        if response.status_code == 200:
            etag = response.headers["ETag"]
            seen.append((response.json["status"], response.json["progress"]["done"]))
            if response.json["status"] == "succeeded":
                break

    assert seen[-1][0] == "succeeded"
    assert ("running", 1) in seen  # progress was visible while it ran
    assert requests <= 8


def test_a_waiting_poll_answers_from_its_first_read_when_it_can_without_subscribing(
    client: FlaskClient, committed_platform: Platform, owner: uuid.UUID
) -> None:
    """Subscribing to a job's changes costs a round trip to Redis; a poll that can answer
    at once (finished job, or a stale ETag) does not pay for it."""
    redis = committed_platform.broker.client
    headers = auth(committed_platform, owner)

    def subscribes() -> int:
        return int(redis.info("commandstats").get("cmdstat_subscribe", {}).get("calls", 0))

    finished = submit_job(committed_platform, owner, "test.wait")
    with committed_platform.sessions() as session:
        job = get_job(session=session, job_id=finished, viewer=Viewer(owner, is_admin=True))
        request_cancel(session=session, job=job)  # a queued job is cancelled at once
        session.commit()
    waiting = submit_job(committed_platform, owner, "test.wait")
    etag = client.get(f"/api/v1/jobs/{waiting}", headers=headers).headers["ETag"]

    before = subscribes()
    done = client.get(f"/api/v1/jobs/{finished}?wait=5", headers=headers)
    stale = client.get(
        f"/api/v1/jobs/{waiting}?wait=5", headers={**headers, "If-None-Match": '"old"'}
    )
    assert subscribes() == before
    unchanged = client.get(
        f"/api/v1/jobs/{waiting}?wait=0.2", headers={**headers, "If-None-Match": etag}
    )

    assert (done.status_code, done.json["status"]) == (200, "cancelled")
    assert (stale.status_code, stale.json["status"]) == (200, "queued")
    assert unchanged.status_code == 304
    assert subscribes() == before + 1  # the one that had to wait did subscribe


def test_a_change_made_just_before_the_wait_begins_is_seen_at_once(
    committed_platform: Platform, owner: uuid.UUID
) -> None:

    job_id = submit_job(committed_platform, owner, "test.wait")
    app = create_app(platform=committed_platform)
    with app.test_request_context(f"/api/v1/jobs/{job_id}"):
        g.user = db().get(User, owner)
        g.org_id = org_of(db(), owner)
        g.viewer = Viewer(owner, org_id=g.org_id, role=Role.OWNER)
        stale = _reload(job_id)  # what the client saw on its previous poll
        with committed_platform.sessions() as other:  # changed before the wait subscribes
            request_cancel(
                session=other,
                job=get_job(session=other, job_id=job_id, viewer=Viewer(owner, is_admin=True)),
            )
            other.commit()
        started = time.monotonic()
        job = _wait_for_change(job_id, ETags([stale.etag]), 5)
        took = time.monotonic() - started

    assert job.status.value == "cancelled"
    assert took < 0.5  # not the 1 s fallback re-read, nor the 5 s deadline


def test_a_submission_preferring_to_wait_answers_201_with_the_finished_job(
    client: FlaskClient, committed_platform: Platform, worker: Runtime, owner: uuid.UUID
) -> None:
    headers = auth(committed_platform, owner, Prefer="wait=10")
    started = time.monotonic()
    response = client.post(
        "/api/v1/jobs", json={"kind": "system.sleep", "params": {"seconds": 1}}, headers=headers
    )
    took = time.monotonic() - started

    assert response.status_code == 201
    assert response.json["status"] == "succeeded"
    assert response.headers["Preference-Applied"] == "wait=10"
    assert response.headers["Location"].endswith(f"/api/v1/jobs/{response.json['id']}")
    assert 1 <= took < 3  # answered when the job finished, not at the end of the wait


def test_a_submission_whose_job_outlasts_the_wait_answers_202_at_the_deadline(
    client: FlaskClient,
    committed_platform: Platform,
    owner: uuid.UUID,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    headers = auth(committed_platform, owner, Prefer="respond-async, wait=1")
    reads: list[bool] = []  # for each read of the job: did it leave a transaction open?
    fetchone = Prepared.fetchone

    def watched(self: Prepared, session: Session, params: Any, row: Any) -> Any:
        found = fetchone(self, session, params, row)
        if self.sql.startswith("SELECT") and "FROM jobs" in self.sql:
            status = driver_connection(session.connection()).info.transaction_status
            reads.append(status != TransactionStatus.IDLE)
        return found

    monkeypatch.setattr(Prepared, "fetchone", watched)
    started = time.monotonic()
    response = client.post("/api/v1/jobs", json={"kind": "test.wait"}, headers=headers)

    assert response.status_code == 202
    assert response.json["status"] == "queued"  # no worker here
    assert 0.9 < time.monotonic() - started < 2
    # Once the submission committed, its re-reads while it waited opened no transaction
    # (one would cost a BEGIN and a ROLLBACK round trip each).
    assert reads and not any(reads)


@pytest.mark.parametrize("prefer", ["wait=soon", "wait=-1", "respond-async", "nowait=5"])
def test_a_preference_that_cannot_be_read_is_ignored_not_refused(
    client: FlaskClient, committed_platform: Platform, owner: uuid.UUID, prefer: str
) -> None:
    started = time.monotonic()
    response = client.post(
        "/api/v1/jobs",
        json={"kind": "test.wait"},
        headers=auth(committed_platform, owner, Prefer=prefer),
    )

    assert response.status_code == 202
    assert "Preference-Applied" not in response.headers
    assert time.monotonic() - started < 0.5
