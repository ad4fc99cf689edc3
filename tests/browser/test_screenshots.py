"""The dashboard with an hour of history, photographed: the pictures in docs/ come from here.

Run as a test it checks that a busy dashboard draws its charts, latency and workers, and keeps
the pictures in the test's temporary folder; `make screenshots` (SCREENSHOTS_DIR=docs) writes
docs/dashboard-*.png.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from models.accounts.users import find_user_by_email, utcnow
from models.core.jobs import Job, JobStatus, NewJob, create_job
from tests.browser.conftest import ApiClient, ConsoleLog, log_in, new_user
from tests.conftest import org_of
from tests.worker.conftest import RunningWorker
from workers.core.setup import Platform

pytestmark = pytest.mark.browser
KINDS = (("email.send", "email"), ("test.pages", "test"), ("test.flaky", "test"))


def seed_history(platform: Platform, email: str) -> None:
    """Jobs that finished over the last hour, minute by minute, as workers would leave them."""
    now = utcnow().replace(second=0, microsecond=0)
    with platform.sessions.begin() as session:
        user = find_user_by_email(session=session, email=email)
        assert user is not None
        owner, org_id = user.id, org_of(session, user.id)
        for minute in range(1, 60):
            for n in range(2 + (minute * 7) % 5):
                kind, queue = KINDS[(minute + n) % len(KINDS)]
                status = JobStatus.FAILED if (minute + n) % 11 == 0 else JobStatus.SUCCEEDED
                if (minute + n) % 23 == 0:
                    status = JobStatus.CANCELLED
                finished = now - timedelta(minutes=minute, seconds=5 * n)
                scale = 1 + 2 * KINDS.index((kind, queue))
                wait_s = (0.2 + (n % 3) * 0.6) * scale
                run_s = (0.4 + ((minute + n) % 7) * 0.5) * scale
                started = finished - timedelta(seconds=run_s)
                created = started - timedelta(seconds=wait_s)
                new = NewJob(kind=kind, queue=queue, params={"seed": minute}, max_attempts=3)
                stored, _ = create_job(session=session, owner_id=owner, org_id=org_id, new=new)
                job = session.get_one(Job, stored.id)
                job.status, job.attempts = status, 1
                job.created_at, job.run_after = created, created
                job.started_at, job.finished_at = started, finished
                if status == JobStatus.FAILED:
                    job.error = {"type": "TransientError", "message": "upstream answered 503"}


def test_a_busy_dashboard_draws_its_figures_and_is_photographed(
    page: Page,
    console: ConsoleLog,
    live_api: str,
    live_worker: RunningWorker,
    committed_platform: Platform,
    tmp_path: Path,
) -> None:
    out = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    email = new_user(committed_platform, admin=True)
    seed_history(committed_platform, email)
    api = ApiClient(live_api, email)
    waiting = [api.submit("test.wait", {"seconds": 60}) for _ in range(2)]
    failed = api.submit("test.once", {"note": "row 4812: <unknown currency>"})
    try:
        log_in(page, live_api, email)
        page.set_viewport_size({"width": 1360, "height": 1500})
        expect(page.locator("#workers .job-links button")).to_have_count(2)
        expect(page.locator(f'#jobs tr[data-job-id="{failed}"]')).to_contain_text("failed")
        assert page.locator("#throughput-chart rect").count() > 50
        assert page.locator("#failure-chart rect").count() > 3
        for kind, _ in KINDS:
            expect(page.locator("#latency")).to_contain_text(kind)
        page.screenshot(path=str(out / "dashboard-overview.png"))

        page.locator(f'#jobs tr[data-job-id="{failed}"]').get_by_role("button").click()
        detail = page.locator("#job-detail")
        expect(page.locator("#detail-traceback")).to_contain_text("PermanentError")
        detail.screenshot(path=str(out / "dashboard-job.png"))

        detail.get_by_role("button", name="Re-drive").click()
        expect(page.locator("#confirm-dialog")).to_be_visible()
        page.locator("#confirm-reason").fill("currency table fixed")
        page.screenshot(path=str(out / "dashboard-confirm.png"))
        page.locator("#confirm-cancel").click()
    finally:
        for job_id in waiting:
            api.http.post(f"/api/v1/admin/ops/jobs/{job_id}/cancel", json={"confirm": True})
    assert console.problems() == []
    assert {p.name for p in out.glob("dashboard-*.png")} >= {
        "dashboard-overview.png",
        "dashboard-job.png",
        "dashboard-confirm.png",
    }
