"""Waiting clients on the real server: streams of a job's changes, and waits that hold no thread.

The API runs as it does in production (gunicorn with config/server.py's gevent workers), one
process, with a worker beside it.
"""

from __future__ import annotations

import concurrent.futures
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from models.core.base import utcnow
from tests.e2e.sse import Event, events
from tests.e2e.stack import Stack
from tests.e2e.test_stack import PASSWORD, login
from workers.core.setup import Platform


def admin_client(stack: Stack, email: str = "ops@example.com") -> httpx.Client:
    created = stack.run(
        "-m", "flask", "--app", "web", "users", "create-admin", email, "--password", PASSWORD
    )
    assert created.returncode == 0, created.stderr
    return login(stack, email)


def read_until(response: httpx.Response, stop: str) -> list[Event]:
    seen = []
    for event in events(response):
        seen.append(event)
        if event.event == stop:
            break
    return seen


@pytest.mark.e2e
def test_a_job_stream_sends_each_change_and_resumes_without_a_gap(
    stack: Stack, committed_platform: Platform
) -> None:
    stack.start_api()
    stack.start_worker()
    admin = admin_client(stack)
    job = admin.post("/api/v1/jobs", json={"kind": "system.sleep", "params": {"seconds": 2}})
    url = f"/api/v1/jobs/{job.json()['id']}/stream"

    with admin.stream("GET", url, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        first = read_until(response, "end")
    history = [e for e in first if e.id is not None]
    assert [e.event for e in history][:2] == ["queued", "started"]
    assert history[-1].event == "succeeded"
    assert [int(e.id) for e in history] == sorted(int(e.id) for e in history)  # type: ignore[arg-type]
    snapshots = [e.data for e in first if e.event == "job"]
    assert snapshots[-1]["status"] == "succeeded"
    assert any(0 < s["progress"]["done"] < 2 for s in snapshots if s["status"] == "running")

    # Every event the database holds was sent, once.
    with committed_platform.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT id FROM job_events WHERE job_id = :j ORDER BY id"), {"j": job.json()["id"]}
        ).scalars()
        assert [int(e.id) for e in history] == list(stored)  # type: ignore[arg-type]

    # Resumed after "started": what came later, nothing twice, then the end.
    with admin.stream("GET", url, headers={"Last-Event-ID": history[1].id or ""}) as response:
        resumed = read_until(response, "end")
    assert [e.id for e in resumed if e.id] == [e.id for e in history[2:]]

    # Resumed after the last event of a finished job: 204, so EventSource stops reconnecting.
    done = admin.get(url, headers={"Last-Event-ID": history[-1].id or ""})
    assert done.status_code == 204


@pytest.mark.e2e
def test_the_organisation_stream_sends_every_job_event_and_resumes_from_its_id(
    stack: Stack, committed_platform: Platform
) -> None:
    stack.start_api()
    admin = admin_client(stack)
    received: list[Event] = []
    with admin.stream("GET", "/api/v1/jobs/stream", timeout=30) as response:
        assert response.status_code == 200
        stream = events(response)
        ids = [
            admin.post("/api/v1/jobs", json={"kind": "system.noop", "params": {}}).json()["id"]
            for _ in range(3)
        ]
        while len(received) < 3:
            received.append(next(stream))
    assert [e.event for e in received] == ["queued"] * 3
    assert [e.data["job_id"] for e in received] == ids

    # Gone while the jobs run; back with the last id: the rest of every job's history.
    stack.start_worker()
    for job_id in ids:
        admin.get(f"/api/v1/jobs/{job_id}", params={"wait": 10})
    with admin.stream(
        "GET", "/api/v1/jobs/stream", headers={"Last-Event-ID": received[-1].id or ""}
    ) as response:
        stream = events(response)
        later = []
        while sum(e.event == "succeeded" for e in later) < 3:
            later.append(next(stream))
    with committed_platform.engine.connect() as conn:
        stored = set(conn.execute(text("SELECT id FROM job_events")).scalars())
    assert {e.data["id"] for e in [*received, *later]} == stored


@pytest.mark.e2e
def test_waiting_clients_hold_no_thread_and_each_user_has_a_cap(
    stack: Stack, committed_platform: Platform
) -> None:
    stack.env["MAX_WAITS_PER_USER"] = "150"
    stack.start_api()  # one process: gevent, not 16 threads
    admin = admin_client(stack)
    later = (utcnow() + timedelta(hours=1)).isoformat()
    job = admin.post(
        "/api/v1/jobs", json={"kind": "system.noop", "params": {}, "run_at": later}
    ).json()
    waiting = httpx.Client(
        base_url=stack.url,
        headers=dict(admin.headers),
        timeout=30,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
    )

    def long_poll() -> float:
        t0 = time.monotonic()
        response = waiting.get(f"/api/v1/jobs/{job['id']}", params={"wait": 8})
        assert response.status_code == 200
        assert response.headers["Retry-After"]
        return time.monotonic() - t0

    with concurrent.futures.ThreadPoolExecutor(max_workers=160) as pool:
        waits = [pool.submit(long_poll) for _ in range(160)]
        # The 10 past the user's cap answer at once, as if they had not asked to wait.
        deadline = time.monotonic() + 6
        while sum(w.done() for w in waits) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sum(w.done() for w in waits) == 10
        t0 = time.monotonic()
        me = admin.get("/api/v1/auth/me")
        health = httpx.get(f"{stack.url}/healthz")
        others_s = time.monotonic() - t0
        still_waiting = sum(not w.done() for w in waits)
        durations = [w.result() for w in waits]
    assert me.status_code == 200 and health.status_code == 200
    assert still_waiting == 150
    assert others_s < 2.0  # with 16 threads per process this took the waits' 8 s
    assert sum(d >= 7.5 for d in durations) == 150


@pytest.mark.e2e
def test_a_stream_ends_when_its_session_does(stack: Stack, committed_platform: Platform) -> None:
    stack.env["STREAM_HEARTBEAT_S"] = "1"
    stack.start_api()
    admin = admin_client(stack)
    with admin.stream("GET", "/api/v1/jobs/stream", timeout=30) as response:
        assert response.status_code == 200
        assert admin.post("/api/v1/auth/logout").status_code in (200, 204)
        t0 = time.monotonic()
        leftover = list(response.iter_lines())  # ends, rather than running on
    assert time.monotonic() - t0 < 10
    assert not any(line.startswith("data:") for line in leftover)
