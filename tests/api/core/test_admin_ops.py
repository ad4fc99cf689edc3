"""The operators' API: figures an operator reads, actions with confirmation, the audit log."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.accounts.users import utcnow
from models.core.jobs import Job, JobStatus, NewJob, create_job
from models.core.ops import OpsAudit
from tests.api.conftest import Caller, a_job
from tests.conftest import broker_held_jobs, org_of
from workers.core.periodic import enqueue_due
from workers.core.presence import Announcer
from workers.core.setup import Platform

OPS = "/api/v1/admin/ops"
YES = {"confirm": True}
SOME_ID = "0190a4c2-0000-7000-8000-000000000000"  # fixed: xdist workers must collect alike


def stored_job(session: Session, owner: Caller, kind: str = "test.pages", **columns: Any) -> Job:
    """A job row as a worker would have left it (no broker message)."""
    new = NewJob(kind=kind, queue="test", params={"pages": 1, "fail_at": 9}, max_attempts=3)
    stored, _ = create_job(
        session=session, owner_id=owner.user.id, org_id=org_of(session, owner.user.id), new=new
    )
    job = session.get_one(Job, stored.id)
    for name, value in columns.items():
        setattr(job, name, value)
    session.commit()
    return job


def failed(session: Session, owner: Caller, kind: str = "test.pages") -> Job:
    now = utcnow()
    error = {"type": "KeyError", "message": "'x'", "transient": True, "traceback": "Traceback…"}
    return stored_job(
        session, owner, kind, status=JobStatus.FAILED, attempts=3, started_at=now,
        finished_at=now, error=error,
    )  # fmt: skip


def audit(session: Session) -> list[OpsAudit]:
    return list(session.scalars(select(OpsAudit).order_by(OpsAudit.id)))


ENDPOINTS = [
    ("get", "/queues"),
    ("get", "/stats"),
    ("get", "/workers"),
    ("get", "/jobs"),
    ("get", f"/jobs/{SOME_ID}"),
    ("get", "/audit"),
    ("get", "/dead-letter"),
    ("get", "/schedules"),
    ("post", f"/jobs/{SOME_ID}/retry"),
    ("post", f"/jobs/{SOME_ID}/cancel"),
    ("post", "/dead-letter/redrive"),
    ("post", "/queues/test/pause"),
    ("post", "/queues/test/resume"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_only_platform_admins_get_in(
    client: FlaskClient, alice: Caller, method: str, path: str
) -> None:
    call = getattr(client, method)
    assert call(OPS + path, json=YES if method == "post" else None).status_code == 401
    response = call(OPS + path, headers=alice.headers, json=YES if method == "post" else None)
    assert response.status_code == 403
    assert response.json["code"] == "permission_denied"


def test_queues_show_broker_depth_and_job_counts_by_state(
    client: FlaskClient, tx_platform: Platform, session: Session, alice: Caller, admin: Caller
) -> None:
    submitted = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers)
    assert submitted.status_code == 202
    stored_job(session, alice, run_after=utcnow() + timedelta(hours=1))
    stored_job(session, alice, status=JobStatus.RUNNING, started_at=utcnow())
    failed(session, alice)

    response = client.get(f"{OPS}/queues", headers=admin.headers)

    assert response.status_code == 200
    queues = {q["name"]: q for q in response.json}
    assert {"test", "system", "email"} <= set(queues)
    test = queues["test"]
    assert (test["queued"], test["delayed"], test["running"], test["dead_letter"]) == (1, 1, 1, 1)
    assert test["paused"] is False
    assert submitted.json["id"] in broker_held_jobs(tx_platform, "test")
    assert test["depth"] >= 1


def test_an_action_without_confirmation_does_nothing(
    client: FlaskClient, session: Session, admin: Caller
) -> None:
    for body in ({}, {"confirm": False}, {"confirm": "yes please"}):
        response = client.post(f"{OPS}/queues/test/pause", json=body, headers=admin.headers)
        assert response.status_code == 422
        assert set(response.json) == {"code", "message", "details", "request_id"}
        assert "confirm" in response.json["details"]["fields"]
    queues = client.get(f"{OPS}/queues", headers=admin.headers).json
    assert not next(q for q in queues if q["name"] == "test")["paused"]
    assert audit(session) == []


def test_pause_and_resume_are_recorded_in_the_audit_log_newest_first(
    client: FlaskClient, admin: Caller
) -> None:
    pause = client.post(
        f"{OPS}/queues/test/pause", json={**YES, "reason": "upstream down"}, headers=admin.headers
    )
    again = client.post(f"{OPS}/queues/test/pause", json=YES, headers=admin.headers)
    resume = client.post(f"{OPS}/queues/test/resume", json=YES, headers=admin.headers)
    unknown = client.post(f"{OPS}/queues/nope/pause", json=YES, headers=admin.headers)

    assert pause.status_code == 200
    assert pause.json["changed"] is True
    assert pause.json["queue"]["paused"] is True
    assert pause.json["queue"]["paused_by"] == str(admin.user.id)
    assert pause.json["queue"]["pause_reason"] == "upstream down"
    assert again.json["changed"] is False
    assert resume.json["queue"]["paused"] is False
    assert unknown.status_code == 404
    log = client.get(f"{OPS}/audit?limit=2", headers=admin.headers).json
    assert [e["action"] for e in log["items"]] == ["queue.resume", "queue.pause"]
    assert log["items"][1]["details"] == {"changed": False, "reason": None}
    assert {e["actor_id"] for e in log["items"]} == {str(admin.user.id)}
    assert {e["actor_email"] for e in log["items"]} == {admin.user.email}
    assert log["items"][0]["target"] == "queue:test"
    older = client.get(f"{OPS}/audit?cursor={log['next_cursor']}", headers=admin.headers).json
    assert [e["details"]["reason"] for e in older["items"]] == ["upstream down"]
    assert older["next_cursor"] is None


def test_job_detail_shows_the_traceback_and_history(
    client: FlaskClient, session: Session, alice: Caller, admin: Caller
) -> None:
    job = failed(session, alice)

    detail = client.get(f"{OPS}/jobs/{job.id}", headers=admin.headers)
    public = client.get(f"/api/v1/jobs/{job.id}", headers=alice.headers)

    assert detail.status_code == 200
    assert detail.json["job"]["error"]["traceback"] == "Traceback…"
    assert detail.json["job"]["params"] == {"pages": 1, "fail_at": 9}
    assert detail.json["job"]["org_id"] == str(org_of(session, alice.user.id))
    assert [e["type"] for e in detail.json["events"]] == ["queued"]
    assert "traceback" not in public.json["error"]
    missing = client.get(f"{OPS}/jobs/{uuid.uuid4()}", headers=admin.headers)
    assert missing.status_code == 404


def test_retry_and_cancel_act_and_are_audited_and_a_refused_one_is_not(
    client: FlaskClient, tx_platform: Platform, session: Session, alice: Caller, admin: Caller
) -> None:
    dead = failed(session, alice)
    waiting = stored_job(session, alice)

    retried = client.post(f"{OPS}/jobs/{dead.id}/retry", json=YES, headers=admin.headers)
    refused = client.post(f"{OPS}/jobs/{waiting.id}/retry", json=YES, headers=admin.headers)
    cancelled = client.post(f"{OPS}/jobs/{waiting.id}/cancel", json=YES, headers=admin.headers)

    assert retried.status_code == 202
    assert (retried.json["status"], retried.json["attempts"]) == ("queued", 0)
    assert str(dead.id) in broker_held_jobs(tx_platform, "test")
    assert refused.status_code == 409
    assert cancelled.status_code == 200
    assert cancelled.json["status"] == "cancelled"
    entries = audit(session)
    assert [(e.action, e.target) for e in entries] == [
        ("job.retry", f"job:{dead.id}"),
        ("job.cancel", f"job:{waiting.id}"),
    ]
    assert entries[0].details["previous_status"] == "failed"


def test_redrive_takes_a_bounded_batch_of_a_kind_and_reports_what_is_left(
    client: FlaskClient, tx_platform: Platform, session: Session, alice: Caller, admin: Caller
) -> None:
    dead = [failed(session, alice) for _ in range(3)]
    other = failed(session, alice, kind="test.flaky")

    first = client.post(
        f"{OPS}/dead-letter/redrive", json={**YES, "kind": "test.pages", "limit": 2},
        headers=admin.headers,
    )  # fmt: skip
    by_id = client.post(
        f"{OPS}/dead-letter/redrive", json={**YES, "job_ids": [str(other.id)]},
        headers=admin.headers,
    )  # fmt: skip
    neither = client.post(f"{OPS}/dead-letter/redrive", json=YES, headers=admin.headers)

    assert first.status_code == 202
    assert (first.json["redriven"], first.json["remaining"]) == (2, 1)
    assert set(first.json["job_ids"]) <= {str(j.id) for j in dead}
    assert set(first.json["job_ids"]) <= broker_held_jobs(tx_platform, "test")
    assert by_id.json["job_ids"] == [str(other.id)]
    assert neither.status_code == 422
    statuses = session.execute(select(Job.status).where(Job.kind == "test.pages")).scalars()
    assert sorted(s.value for s in statuses) == ["failed", "queued", "queued"]
    entries = audit(session)
    assert [(e.action, e.target) for e in entries] == [
        ("dead_letter.redrive", "kind:test.pages"),
        ("dead_letter.redrive", "jobs"),
    ]
    assert entries[0].details["count"] == 2


def test_the_dead_letter_set_is_counted_by_kind_largest_first(
    client: FlaskClient, session: Session, alice: Caller, admin: Caller
) -> None:
    pages = [failed(session, alice) for _ in range(2)]
    failed(session, alice, kind="test.flaky")
    stored_job(session, alice)  # queued: not in the dead-letter set

    response = client.get(f"{OPS}/dead-letter", headers=admin.headers)

    assert response.status_code == 200
    assert [(k["kind"], k["queue"], k["jobs"]) for k in response.json] == [
        ("test.pages", "test", 2),
        ("test.flaky", "test", 1),
    ]
    first = response.json[0]
    assert first["oldest_failed_at"] == pages[0].finished_at.isoformat()
    assert first["newest_failed_at"] == pages[1].finished_at.isoformat()


def test_stats_give_throughput_per_minute_and_latency_percentiles(
    client: FlaskClient, session: Session, alice: Caller, admin: Caller
) -> None:
    now = utcnow()
    minute = now.replace(second=0, microsecond=0) - timedelta(minutes=5)
    for wait_s, run_s in ((2, 1), (4, 3)):
        created = minute - timedelta(seconds=wait_s + 10)
        stored_job(
            session, alice, "test.flaky", status=JobStatus.SUCCEEDED, created_at=created,
            run_after=created, started_at=minute - timedelta(seconds=10),
            finished_at=minute - timedelta(seconds=10 - run_s),
        )  # fmt: skip
    stored_job(session, alice, "test.flaky", status=JobStatus.FAILED, finished_at=minute)

    response = client.get(f"{OPS}/stats?window=3600", headers=admin.headers)
    bad = client.get(f"{OPS}/stats?window=5", headers=admin.headers)

    assert response.status_code == 200
    buckets = response.json["throughput"]
    assert len(buckets) in (60, 61)
    busy = [b for b in buckets if b["succeeded"] or b["failed"]]
    assert sum(b["succeeded"] for b in busy) == 2
    assert sum(b["failed"] for b in busy) == 1
    assert any(b["failure_rate"] is not None for b in busy)
    (flaky,) = [k for k in response.json["latency"] if k["kind"] == "test.flaky"]
    assert flaky["jobs"] == 2
    assert (flaky["wait_p50_s"], flaky["run_p50_s"]) == (3.0, 2.0)
    assert flaky["run_p95_s"] == pytest.approx(2.9)
    assert bad.status_code == 422


def test_job_search_filters_across_organisations_with_a_cursor(
    client: FlaskClient, session: Session, alice: Caller, bob: Caller, admin: Caller
) -> None:
    alices = [stored_job(session, alice) for _ in range(3)]
    bobs = failed(session, bob)

    first = client.get(
        f"{OPS}/jobs?org_id={org_of(session, alice.user.id)}&limit=2", headers=admin.headers
    )
    second = client.get(
        f"{OPS}/jobs?org_id={org_of(session, alice.user.id)}&cursor={first.json['next_cursor']}",
        headers=admin.headers,
    )
    dead = client.get(f"{OPS}/jobs?status=failed&kind=test.pages", headers=admin.headers)
    by_id = client.get(f"{OPS}/jobs?id={alices[0].id}", headers=admin.headers)
    bad = client.get(f"{OPS}/jobs?status=lost", headers=admin.headers)

    assert [j["id"] for j in first.json["items"] + second.json["items"]] == [
        str(j.id) for j in reversed(alices)
    ]
    assert second.json["next_cursor"] is None
    assert [j["id"] for j in dead.json["items"]] == [str(bobs.id)]
    assert [j["id"] for j in by_id.json["items"]] == [str(alices[0].id)]
    assert bad.status_code == 422


def test_workers_alive_are_listed_with_their_running_jobs(
    client: FlaskClient, tx_platform: Platform, session: Session, alice: Caller, admin: Caller
) -> None:
    settings = tx_platform.settings
    worker_id = f"ops-test:{uuid.uuid4().hex[:6]}"
    job = stored_job(session, alice, status=JobStatus.RUNNING, worker_id=worker_id)
    announcer = Announcer(settings.redis_url, settings.broker_namespace, 5.0)
    announcer.start(worker_id, ["test", "system"])
    try:
        listed = client.get(f"{OPS}/workers", headers=admin.headers).json
    finally:
        announcer.stop()
    gone = client.get(f"{OPS}/workers", headers=admin.headers).json

    (mine,) = [w for w in listed if w["worker_id"] == worker_id]
    assert mine["queues"] == ["system", "test"]
    assert [j["id"] for j in mine["jobs"]] == [str(job.id)]
    assert worker_id not in {w["worker_id"] for w in gone}


def test_schedules_show_each_periodic_job_with_its_last_and_next_run(
    client: FlaskClient, tx_platform: Platform, admin: Caller
) -> None:
    before = client.get(f"{OPS}/schedules", headers=admin.headers)
    now = utcnow()
    p = tx_platform
    enqueue_due(sessions=p.sessions, dispatcher=p.dispatcher, now=now - timedelta(hours=1))
    enqueue_due(sessions=p.sessions, dispatcher=p.dispatcher, now=now)
    after = client.get(f"{OPS}/schedules", headers=admin.headers)

    assert before.status_code == after.status_code == 200
    prune = next(s for s in before.json if s["name"] == "accounts.prune_login_attempts")
    assert (prune["every"], prune["queue"]) == ("every 3600 s", "default")
    assert prune["last_slot_at"] is prune["last_job_id"] is prune["last_job_status"] is None
    hour = now.replace(minute=0, second=0, microsecond=0)
    assert prune["next_slot_at"] == (hour + timedelta(hours=1)).isoformat()
    prune = next(s for s in after.json if s["name"] == "accounts.prune_login_attempts")
    assert prune["last_slot_at"] == hour.isoformat()
    assert prune["last_job_status"] == "queued"
    job = client.get(f"{OPS}/jobs/{prune['last_job_id']}", headers=admin.headers)
    assert job.status_code == 200
    assert job.json["job"]["kind"] == "accounts.prune_login_attempts"
    assert job.json["job"]["org_id"] is job.json["job"]["owner_id"] is None


def test_the_ops_api_is_in_the_openapi_spec(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").json["paths"]
    for _, path in ENDPOINTS:
        template = path.replace(path.split("/")[2], "{job_id}") if "/jobs/" in path else path
        template = template.replace("/queues/test/", "/queues/{name}/")
        assert f"{OPS}{template}" in paths, template
    body = paths[f"{OPS}/queues/{{name}}/pause"]["post"]["requestBody"]
    assert body["required"] is True
