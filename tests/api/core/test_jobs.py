"""The jobs API: submit, read, list, cancel, retry — and who may see what."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.core.jobs import Job, JobEvent, JobStatus
from tests.api.conftest import Caller, a_job, email_job
from tests.conftest import broker_held_jobs
from workers.core.setup import Platform


def count_jobs(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Job)) or 0


def test_submit_answers_202_with_location_and_sends_the_job_to_the_broker(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    response = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers)

    assert response.status_code == 202
    job_id = response.json["id"]
    assert response.headers["Location"] == f"/api/v1/jobs/{job_id}"
    assert response.json["status"] == "queued"
    assert response.json["max_attempts"] == 3
    job = session.get_one(Job, uuid.UUID(job_id))
    assert job.owner_id == alice.user.id
    assert job.params == {"pages": 3, "fail_at": 9}
    assert job_id in broker_held_jobs(tx_platform, "test")


def test_unknown_kind_is_a_422_and_stores_nothing(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    before = count_jobs(session)
    response = client.post("/api/v1/jobs", json={"kind": "video.render"}, headers=alice.headers)

    assert response.status_code == 422
    assert response.json["code"] == "validation_failed"
    assert "kind" in response.json["details"]["fields"]
    assert count_jobs(session) == before


def test_params_that_do_not_fit_the_kind_get_field_errors_and_store_nothing(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    before = count_jobs(session)
    body = a_job(params={"pages": "many"})
    response = client.post("/api/v1/jobs", json=body, headers=alice.headers)

    assert response.status_code == 422
    fields = response.json["details"]["fields"]["params"]
    assert set(fields) == {"pages", "fail_at"}
    assert count_jobs(session) == before


def test_email_params_are_checked_field_by_field(
    client: FlaskClient, admin: Caller, session: Session
) -> None:
    body = email_job(params={"to": ["not-an-address"], "subject": "Line\nbreak"})
    response = client.post("/api/v1/jobs", json=body, headers=admin.headers)

    assert response.status_code == 422
    assert set(response.json["details"]["fields"]["params"]) == {"to", "subject", "text"}


def test_diagnostic_and_raw_mail_kinds_are_for_admins_only(
    client: FlaskClient, alice: Caller, admin: Caller
) -> None:
    for body in ({"kind": "system.sleep", "params": {"seconds": 1}}, email_job()):
        assert client.post("/api/v1/jobs", json=body, headers=alice.headers).status_code == 422
        assert client.post("/api/v1/jobs", json=body, headers=admin.headers).status_code == 202
    kinds = {k["name"] for k in client.get("/api/v1/job-kinds", headers=alice.headers).json}
    assert "test.pages" in kinds
    assert not kinds & {"email.send", "system.sleep", "system.noop"}


def test_a_repeated_idempotency_key_returns_the_same_job(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    headers = alice.with_headers(Idempotency_Key="order-42")
    first = client.post("/api/v1/jobs", json=a_job(), headers=headers)
    before = count_jobs(session)
    again = client.post("/api/v1/jobs", json=a_job(), headers=headers)

    assert again.status_code == 202
    assert again.json["id"] == first.json["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count_jobs(session) == before


def test_the_same_idempotency_key_with_other_params_is_a_conflict(
    client: FlaskClient, alice: Caller
) -> None:
    headers = alice.with_headers(Idempotency_Key="order-43")
    client.post("/api/v1/jobs", json=a_job(), headers=headers)
    other = a_job(params={"pages": 4, "fail_at": 9})
    response = client.post("/api/v1/jobs", json=other, headers=headers)

    assert response.status_code == 409
    assert response.json["code"] == "conflict"


def test_idempotency_keys_belong_to_their_owner(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    a = client.post("/api/v1/jobs", json=a_job(), headers=alice.with_headers(Idempotency_Key="k"))
    b = client.post("/api/v1/jobs", json=a_job(), headers=bob.with_headers(Idempotency_Key="k"))
    assert a.json["id"] != b.json["id"]


def test_someone_elses_job_does_not_exist_for_you(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    job_id = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).json["id"]

    for method, path in [
        ("get", f"/api/v1/jobs/{job_id}"),
        ("get", f"/api/v1/jobs/{job_id}/events"),
        ("post", f"/api/v1/jobs/{job_id}/cancel"),
        ("post", f"/api/v1/jobs/{job_id}/retry"),
    ]:
        response = getattr(client, method)(path, headers=bob.headers)
        assert response.status_code == 404, path
        assert response.json["code"] == "not_found"
    listed = client.get("/api/v1/jobs", headers=bob.headers).json["items"]
    assert job_id not in [j["id"] for j in listed]
    assert client.get(f"/api/v1/jobs/{job_id}", headers=alice.headers).status_code == 200


def test_admins_see_every_job(client: FlaskClient, alice: Caller, admin: Caller) -> None:
    job_id = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).json["id"]
    assert client.get(f"/api/v1/jobs/{job_id}", headers=admin.headers).status_code == 200


def test_polling_with_the_etag_answers_304_and_says_when_to_ask_again(
    client: FlaskClient, alice: Caller
) -> None:
    job_id = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).json["id"]
    first = client.get(f"/api/v1/jobs/{job_id}", headers=alice.headers)
    etag = first.headers["ETag"]

    again = client.get(f"/api/v1/jobs/{job_id}", headers=alice.with_headers(If_None_Match=etag))

    assert first.headers["Retry-After"] == "1"
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag


def test_a_finished_job_has_no_retry_after_and_a_new_etag(
    client: FlaskClient, alice: Caller
) -> None:
    job_id = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).json["id"]
    etag = client.get(f"/api/v1/jobs/{job_id}", headers=alice.headers).headers["ETag"]
    client.post(f"/api/v1/jobs/{job_id}/cancel", headers=alice.headers)

    response = client.get(f"/api/v1/jobs/{job_id}", headers=alice.with_headers(If_None_Match=etag))

    assert response.status_code == 200
    assert response.json["status"] == "cancelled"
    assert "Retry-After" not in response.headers
    assert response.headers["ETag"] != etag


def test_a_queued_job_is_cancelled_at_once_and_cannot_be_cancelled_twice(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    job_id = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).json["id"]

    response = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=alice.headers)
    again = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=alice.headers)

    assert response.status_code == 200
    assert response.json["status"] == "cancelled"
    assert response.json["finished_at"] is not None
    assert again.status_code == 409
    events = client.get(f"/api/v1/jobs/{job_id}/events", headers=alice.headers).json["items"]
    assert [e["type"] for e in events] == ["queued", "cancelled"]


def test_retry_queues_a_cancelled_job_again_with_fresh_attempts(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    job_id = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).json["id"]
    client.post(f"/api/v1/jobs/{job_id}/cancel", headers=alice.headers)

    response = client.post(f"/api/v1/jobs/{job_id}/retry", headers=alice.headers)

    assert response.status_code == 202
    assert response.json["status"] == "queued"
    assert response.json["attempts"] == 0
    assert response.json["finished_at"] is None
    job = session.get_one(Job, uuid.UUID(job_id))
    assert job.message_id != job_id  # a new message, so the broker cannot confuse the two
    types = session.scalars(
        select(JobEvent.type).where(JobEvent.job_id == job.id).order_by(JobEvent.id)
    )
    assert list(types) == ["queued", "cancelled", "redriven"]


def test_only_failed_or_cancelled_jobs_can_be_retried(client: FlaskClient, alice: Caller) -> None:
    job_id = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).json["id"]
    response = client.post(f"/api/v1/jobs/{job_id}/retry", headers=alice.headers)
    assert response.status_code == 409
    assert response.json["details"] == {"status": "queued"}


def test_the_list_filters_and_pages_with_a_cursor(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    ids = [
        client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).json["id"]
        for _ in range(5)
    ]
    client.post(f"/api/v1/jobs/{ids[0]}/cancel", headers=alice.headers)

    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/jobs", query_string=query, headers=alice.headers).json
        seen += [j["id"] for j in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    cancelled = client.get(
        "/api/v1/jobs", query_string={"status": "cancelled"}, headers=alice.headers
    ).json["items"]

    assert seen == list(reversed(ids))
    assert [j["id"] for j in cancelled] == [ids[0]]


def test_the_list_filters_by_kind_and_creation_time(client: FlaskClient, alice: Caller) -> None:
    client.post("/api/v1/jobs", json=a_job(), headers=alice.headers)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

    def count(**query: str) -> int:
        return len(
            client.get("/api/v1/jobs", query_string=query, headers=alice.headers).json["items"]
        )

    assert count(kind="test.pages") == 1
    assert count(kind="system.noop") == 0
    assert count(created_after=past) == 1
    assert count(created_after=future) == 0
    assert count(created_before=past) == 0


def test_a_bad_cursor_or_filter_is_a_422(client: FlaskClient, alice: Caller) -> None:
    for query in ({"cursor": "garbage!"}, {"status": "sleeping"}, {"limit": 1000}):
        response = client.get("/api/v1/jobs", query_string=query, headers=alice.headers)
        assert response.status_code == 422, query
        assert response.json["code"] == "validation_failed"


def test_run_at_is_honoured_up_to_seven_days_ahead(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    later = datetime.now(UTC) + timedelta(hours=2)
    ok = client.post("/api/v1/jobs", json=a_job(run_at=later.isoformat()), headers=alice.headers)
    too_far = a_job(run_at=(datetime.now(UTC) + timedelta(days=8)).isoformat())
    rejected = client.post("/api/v1/jobs", json=too_far, headers=alice.headers)

    assert ok.status_code == 202
    assert datetime.fromisoformat(ok.json["run_after"]) == later
    assert int(ok.headers["Retry-After"]) > 7000
    assert rejected.status_code == 422
    assert "run_at" in rejected.json["details"]["fields"]


def test_jobs_need_a_token(client: FlaskClient) -> None:
    response = client.post("/api/v1/jobs", json=a_job())
    assert response.status_code == 401
    assert response.json["code"] == "authentication_failed"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_job_statuses_are_the_documented_ones() -> None:
    assert [s.value for s in JobStatus] == ["queued", "running", "succeeded", "failed", "cancelled"]


def test_a_failed_jobs_error_is_shown_without_its_traceback(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    job_id = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).json["id"]
    job = session.get_one(Job, uuid.UUID(job_id))
    job.status = JobStatus.FAILED
    job.error = {
        "type": "KeyError",
        "message": "'x'",
        "transient": True,
        "traceback": "Traceback (most recent call last): ... /srv/secret/path.py",
    }
    session.commit()

    error = client.get(f"/api/v1/jobs/{job_id}", headers=alice.headers).json["error"]

    assert error == {"type": "KeyError", "message": "'x'", "transient": True}


def test_a_retried_jobs_history_keeps_the_traceback_from_its_members(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    job_id = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).json["id"]
    job = session.get_one(Job, uuid.UUID(job_id))
    job.status = JobStatus.FAILED
    job.error = {
        "type": "KeyError",
        "message": "boom",
        "transient": False,
        "traceback": 'File "/srv/app/secret_module.py", line 9, in run',
    }
    session.commit()

    assert client.post(f"/api/v1/jobs/{job_id}/retry", headers=alice.headers).status_code == 202
    history = client.get(f"/api/v1/jobs/{job_id}/events", headers=alice.headers).json["items"]

    [redriven] = [e for e in history if e["type"] == "redriven"]
    assert redriven["data"]["error"] == {"type": "KeyError", "message": "boom", "transient": False}
    assert "secret_module" not in str(history)
