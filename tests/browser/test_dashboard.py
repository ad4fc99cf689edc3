"""The dashboard in a real browser: what an operator sees and does, and what others do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import WAIT_MS, ApiClient, ConsoleLog, log_in, new_user
from tests.worker.conftest import RunningWorker
from workers.core.periodic import enqueue_due
from workers.core.setup import Platform

pytestmark = pytest.mark.browser
# User-controlled text that would run script if the page rendered it as HTML.
HOSTILE = "<img src=x onerror=document.title='pwned'><b>bold</b>"


def test_an_admin_sees_a_failing_job_and_redrives_it_from_the_dead_letter_queue(
    page: Page,
    console: ConsoleLog,
    live_api: str,
    live_worker: RunningWorker,
    committed_platform: Platform,
) -> None:
    email = new_user(committed_platform, admin=True)
    log_in(page, live_api, email)
    expect(page.locator("#who-email")).to_have_text(email)
    expect(page.locator('#queues tr[data-queue="test"]')).to_contain_text("running")
    expect(page.locator("#workers")).to_contain_text(live_worker.runtime.worker_id)
    expect(page.locator("#schedules")).to_contain_text("accounts.prune_login_attempts")
    expect(page.locator("#schedules")).to_contain_text("every 3600 s")

    job_id = ApiClient(live_api, email).submit("test.once", {"note": HOSTILE})

    # It fails for good and shows up on its own (polling): in the list and the dead letter.
    row = page.locator(f'#jobs tr[data-job-id="{job_id}"]')
    expect(row).to_contain_text("failed", timeout=WAIT_MS)
    expect(page.locator('#dead-letter tr[data-kind="test.once"]')).to_contain_text("1")
    row.get_by_role("button").click()

    detail = page.locator("#job-detail")
    expect(detail.locator(".detail-head .badge")).to_have_text("failed")
    expect(detail).to_contain_text(job_id)
    expect(detail.locator('.facts dt:text-is("Attempts") + dd')).to_have_text("1 of 1")
    expect(detail.locator('.facts dt:text-is("Kind") + dd')).to_have_text("test.once")
    expect(page.locator("#detail-error")).to_contain_text("PermanentError: cannot process")
    expect(page.locator("#detail-traceback")).to_contain_text("Traceback (most recent call last)")
    # The hostile params and error read as text: no element was made of them, no script ran.
    expect(page.locator("#detail-params")).to_contain_text(HOSTILE)
    expect(page.locator("#detail-error")).to_contain_text(HOSTILE)
    assert page.locator("main img, main b").count() == 0
    assert page.title() != "pwned"

    detail.get_by_role("button", name="Re-drive").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Re-drive this job from the dead-letter queue?")
    dialog.get_by_label("Reason").fill("upstream fixed")
    dialog.get_by_role("button", name="Re-drive").click()
    expect(dialog).to_be_hidden()

    expect(detail.locator(".detail-head .badge")).to_have_text("succeeded", timeout=WAIT_MS)
    expect(page.locator("#detail-result")).to_contain_text('"runs": 2')
    expect(detail.locator('.facts dt:text-is("Attempts") + dd')).to_have_text("1 of 1")
    expect(page.locator("#detail-events")).to_contain_text("succeeded")
    expect(row).to_contain_text("succeeded")
    expect(page.locator("#dead-letter")).to_contain_text("The dead-letter set is empty")
    entry = page.locator("#audit tbody tr").first
    expect(entry).to_contain_text("dead_letter.redrive")
    expect(entry).to_contain_text(email)
    expect(entry).to_contain_text("1 job · reason: upstream fixed")
    assert console.problems() == []


def test_pausing_a_queue_goes_through_the_dialog_and_into_the_audit_log(
    page: Page, console: ConsoleLog, live_api: str, committed_platform: Platform
) -> None:
    email = new_user(committed_platform, admin=True)
    log_in(page, live_api, email)
    queue = page.locator('#queues tr[data-queue="test"]')
    dialog = page.locator("#confirm-dialog")

    queue.get_by_role("button", name="Pause").click()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#audit")).to_contain_text("No operator has acted yet.")

    queue.get_by_role("button", name="Pause").click()
    expect(dialog).to_contain_text("Pause the test queue?")
    dialog.get_by_role("button", name="Pause queue").click()
    expect(queue.locator(".badge")).to_have_text("paused")
    expect(page.locator("#audit tbody tr").first).to_contain_text("queue.pause")

    queue.get_by_role("button", name="Resume").click()
    dialog.get_by_role("button", name="Resume queue").click()
    expect(queue.locator(".badge")).to_have_text("running")
    expect(page.locator("#audit tbody tr").first).to_contain_text("queue.resume")
    assert console.problems() == []


def test_a_non_admin_sees_admins_only_and_no_data(
    page: Page, console: ConsoleLog, live_api: str, committed_platform: Platform
) -> None:
    email = new_user(committed_platform, admin=False)
    ApiClient(live_api, email).submit("test.once", {"note": "private"})

    log_in(page, live_api, email)

    denied = page.locator("#denied-view")
    expect(denied).to_be_visible()
    expect(denied.get_by_role("heading")).to_have_text("Admins only")
    expect(page.locator("#dash-view")).to_be_hidden()
    expect(page.locator("#login-view")).to_be_hidden()
    for table in ("#queues", "#jobs", "#workers", "#audit", "#dead-letter", "#cards"):
        assert page.locator(f"{table} > *").count() == 0, table
    assert "private" not in page.content()
    # The API itself says no, whatever the page does.
    member = ApiClient(live_api, email)
    assert member.http.get("/api/v1/admin/ops/queues").status_code == 403
    assert console.problems() == []


def test_an_expired_access_token_is_refreshed_without_logging_out(
    page: Page, console: ConsoleLog, live_api: str, committed_platform: Platform
) -> None:
    email = new_user(committed_platform, admin=True)
    log_in(page, live_api, email)
    expect(page.locator("#dash-view")).to_be_visible()
    stale = page.evaluate(
        """() => {
            const tokens = JSON.parse(sessionStorage.getItem("backline.ops.tokens"));
            tokens.access_token = "expired." + tokens.access_token.split(".")[1] + ".x";
            sessionStorage.setItem("backline.ops.tokens", JSON.stringify(tokens));
            return tokens;
        }"""
    )

    page.reload()

    expect(page.locator("#dash-view")).to_be_visible()
    expect(page.locator("#who-email")).to_have_text(email)
    fresh = page.evaluate("""() => JSON.parse(sessionStorage.getItem("backline.ops.tokens"))""")
    assert fresh["refresh_token"] != stale["refresh_token"]  # it rotated
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#login-view")).to_be_visible()
    assert page.evaluate("""() => sessionStorage.getItem("backline.ops.tokens")""") is None
    old = httpx.post(
        f"{live_api}/api/v1/auth/refresh", json={"refresh_token": fresh["refresh_token"]}
    )
    assert old.status_code == 401  # logging out ended the session
    # The first /auth/me answered 401 before the refresh; that is the browser's log of it.
    assert [e for e in console.problems() if "401" not in e] == []


def test_a_periodic_jobs_last_run_opens_from_the_schedules_panel(
    page: Page,
    console: ConsoleLog,
    live_api: str,
    live_worker: RunningWorker,
    committed_platform: Platform,
) -> None:
    p = committed_platform
    now = datetime.now(UTC)
    enqueue_due(sessions=p.sessions, dispatcher=p.dispatcher, now=now - timedelta(hours=1))
    enqueue_due(sessions=p.sessions, dispatcher=p.dispatcher, now=now)
    log_in(page, live_api, new_user(p, admin=True))

    row = page.locator("#schedules tbody tr", has_text="accounts.prune_login_attempts")
    expect(row.locator(".badge")).to_have_text("succeeded", timeout=WAIT_MS)
    row.locator("button.link").click()

    detail = page.locator("#job-detail")
    expect(detail.locator('.facts dt:text-is("Kind") + dd')).to_have_text(
        "accounts.prune_login_attempts"
    )
    expect(detail.locator('.facts dt:text-is("Submitted by") + dd')).to_have_text("the scheduler")
    expect(page.locator("#detail-result")).to_contain_text('"removed": 0')
    assert console.problems() == []
