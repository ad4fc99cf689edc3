"""The whole stack as real processes: submit over HTTP, poll to the end, survive kill -9."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.e2e.stack import Stack
from tests.smtp import SmtpServer

PASSWORD = "correct horse battery"


def poll(client: httpx.Client, url: str, until: Any, timeout_s: float = 30) -> dict[str, Any]:
    """Long-poll a job until `until(job)` holds."""
    deadline = time.monotonic() + timeout_s
    etag = None
    while time.monotonic() < deadline:
        headers = {"If-None-Match": etag} if etag else {}
        response = client.get(url, params={"wait": 5}, headers=headers)
        if response.status_code == 200:
            job = response.json()
            etag = response.headers["ETag"]
            if until(job):
                return job
        else:
            assert response.status_code == 304
    raise AssertionError(f"{url} did not reach the expected state")


def login(stack: Stack, email: str) -> httpx.Client:
    tokens = httpx.post(
        f"{stack.url}/api/v1/auth/login", json={"email": email, "password": PASSWORD}
    ).json()
    return httpx.Client(
        base_url=stack.url,
        timeout=15,
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )


@pytest.mark.e2e
def test_jobs_run_through_the_real_processes_and_survive_a_killed_worker(
    stack: Stack, smtp: SmtpServer
) -> None:
    created = stack.run(
        "-m",
        "flask",
        "--app",
        "web",
        "users",
        "create-admin",
        "ops@example.com",
        "--password",
        PASSWORD,
    )
    assert created.returncode == 0, created.stderr
    stack.start_api()
    stack.start_scheduler()
    stack.start_worker("worker-a")

    # Register: the verification mail goes through an email.send job to the SMTP server.
    register = httpx.post(
        f"{stack.url}/api/v1/auth/register", json={"email": "fan@example.com", "password": PASSWORD}
    )
    assert register.status_code == 202
    deadline = time.monotonic() + 20
    while not smtp.to("fan@example.com") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Confirm your e-mail" in smtp.to("fan@example.com")[0]["Subject"]

    admin = login(stack, "ops@example.com")
    noop = admin.post("/api/v1/jobs", json={"kind": "system.noop", "params": {}})
    assert noop.status_code == 202
    done = poll(admin, noop.headers["Location"], lambda j: j["status"] == "succeeded")
    assert done["attempts"] == 1

    # A long job; kill its worker with -9 half-way; another worker finishes it.
    sleep = admin.post("/api/v1/jobs", json={"kind": "system.sleep", "params": {"seconds": 6}})
    location = sleep.headers["Location"]
    poll(admin, location, lambda j: j["status"] == "running" and j["progress"]["done"] >= 2)
    stack.kill("worker-a")
    stack.start_worker("worker-b")
    finished = poll(admin, location, lambda j: j["status"] in ("succeeded", "failed"), 60)

    assert finished["status"] == "succeeded", finished["error"]
    assert finished["attempts"] == 2
    assert finished["result"]["resumed_at_step"] >= 2  # resumed from its checkpoint
    history = admin.get(f"{location}/events").json()["items"]
    recovered = [e for e in history if e["type"] == "recovered"]
    assert recovered and recovered[0]["data"]["reason"] == "stale_heartbeat"

    codes = stack.stop()
    assert all(code in (0, -15) for code in codes.values()), codes
