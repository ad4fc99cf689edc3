"""The job event streams' answers that come at once: access, resumption, the cap on waits.

What they send while a job runs is in tests/e2e/test_waiting.py, on the real server.
"""

from __future__ import annotations

import time

from flask import Flask
from flask.testing import FlaskClient

from tests.api.conftest import Caller, a_job
from tests.sse import sse
from web.core.waits import wait_slots


def cancelled_job(client: FlaskClient, who: Caller) -> str:
    job_id: str = client.post("/api/v1/jobs", json=a_job(), headers=who.headers).json["id"]
    assert client.post(f"/api/v1/jobs/{job_id}/cancel", headers=who.headers).status_code == 200
    return job_id


def test_a_finished_jobs_stream_sends_its_history_its_state_and_the_end(
    client: FlaskClient, alice: Caller
) -> None:
    job_id = cancelled_job(client, alice)
    response = client.get(f"/api/v1/jobs/{job_id}/stream", headers=alice.headers)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    events = sse(response.get_data())
    assert [e["event"] for e in events] == ["queued", "cancelled", "job", "end"]
    assert [e.get("id") for e in events[:2]] == [str(e["data"]["id"]) for e in events[:2]]
    assert events[2]["data"]["status"] == "cancelled"
    assert response.get_data().startswith(b"retry: ")

    after_first = client.get(
        f"/api/v1/jobs/{job_id}/stream", headers=alice.with_headers(Last_Event_ID=events[0]["id"])
    )
    assert [e["event"] for e in sse(after_first.get_data())] == ["cancelled", "job", "end"]
    after_all = client.get(
        f"/api/v1/jobs/{job_id}/stream", headers=alice.with_headers(Last_Event_ID=events[1]["id"])
    )
    assert after_all.status_code == 204  # EventSource stops reconnecting


def test_someone_elses_job_has_no_stream(client: FlaskClient, alice: Caller, bob: Caller) -> None:
    job_id = cancelled_job(client, alice)
    response = client.get(f"/api/v1/jobs/{job_id}/stream", headers=bob.headers)
    assert response.status_code == 404
    assert response.json["code"] == "not_found"
    assert client.get(f"/api/v1/jobs/{job_id}/stream").status_code == 401
    assert client.get("/api/v1/jobs/stream").status_code == 401


def test_a_last_event_id_that_is_not_ours_is_a_422(client: FlaskClient, alice: Caller) -> None:
    job_id = cancelled_job(client, alice)
    for path in (f"/api/v1/jobs/{job_id}/stream", "/api/v1/jobs/stream"):
        for bad in ("x", "9223372036854775808", "1.2.3", "\u00e9"):
            response = client.get(path, headers=alice.with_headers(Last_Event_ID=bad))
            assert response.status_code == 422, (path, bad)
            assert response.json["code"] == "validation_failed"


def test_past_the_cap_a_stream_sends_what_there_is_and_asks_to_come_back(
    app: Flask, client: FlaskClient, alice: Caller
) -> None:
    job_id = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).json["id"]
    with app.app_context():
        slots = wait_slots()
        held = [slots.take(alice.user.id, 60) for _ in range(slots.cap)]
    assert all(held)
    try:
        response = client.get(f"/api/v1/jobs/{job_id}/stream", headers=alice.headers)
        assert response.status_code == 200
        assert int(response.headers["Retry-After"]) >= 1
        body = response.get_data()
        assert body.startswith(b"retry: ")
        events = sse(body)
        assert [e["event"] for e in events] == ["queued", "job"]  # and no end: come back

        t0 = time.monotonic()
        polled = client.get(f"/api/v1/jobs/{job_id}?wait=5", headers=alice.headers)
        assert time.monotonic() - t0 < 2  # at once, not after 5 s
        assert polled.status_code == 200  # and not an error
        assert polled.headers["Retry-After"]
    finally:
        for slot in held:
            slot.release()  # type: ignore[union-attr]


def test_a_stream_that_is_never_read_gives_its_wait_back(
    app: Flask, client: FlaskClient, alice: Caller
) -> None:
    job_id = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).json["id"]
    with app.app_context():
        cap = wait_slots().cap
    for _ in range(cap + 2):
        assert (
            client.head(f"/api/v1/jobs/{job_id}/stream", headers=alice.headers).status_code == 200
        )
    with app.app_context():
        held = [wait_slots().take(alice.user.id, 60) for _ in range(cap)]
    assert all(held)
    for slot in held:
        slot.release()  # type: ignore[union-attr]


def test_the_organisation_stream_says_where_to_resume_from_at_once(
    client: FlaskClient, alice: Caller, app: Flask
) -> None:
    with app.app_context():
        slots = wait_slots()
        held = [slots.take(alice.user.id, 60) for _ in range(slots.cap)]
    try:
        body = client.get("/api/v1/jobs/stream", headers=alice.headers).get_data().decode()
    finally:
        for slot in held:
            slot.release()  # type: ignore[union-attr]
    assert body.startswith("retry: ")
    assert "\nid: " in body or body.split("\n\n")[1].startswith("id: ")
