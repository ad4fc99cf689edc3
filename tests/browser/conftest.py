"""Browser fixtures: the API over real HTTP, a real worker, headless Chromium from Debian.

The API is the real Flask app served by werkzeug in a thread and the worker is a real Dramatiq
worker, both in this process on the test database and Redis: test job kinds (tests/kinds.py)
run as they would anywhere, and can keep state the test reads. Chromium is Debian's
/usr/bin/chromium, driven by Playwright (no browser download: this machine has no internet).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.serving import make_server

from config import Settings
from tests.conftest import make_user
from tests.worker.conftest import RunningWorker
from web import create_app
from web.core.context import EXTENSION
from workers.core.setup import Platform

CHROMIUM = Path("/usr/bin/chromium")
# As root Chromium needs --no-sandbox; the others keep it off the network it would phone home to.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
PASSWORD = "correct horse battery"  # make_user's
WAIT_MS = 30_000  # generous: the machine is shared with other test runs
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


class ConsoleLog:
    """What the page said on its console: a CSP violation or a script error shows up here."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def problems(self) -> list[str]:
        # The browser asks for /favicon.ico on its own; that 404 is not the page's doing.
        return [e for e in self.errors if "404" not in e]


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-GB")
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture()
def console(page: Page) -> ConsoleLog:
    return ConsoleLog(page)


@pytest.fixture()
def live_api(settings: Settings, committed_platform: Platform) -> Iterator[str]:
    """The app on a free port of 127.0.0.1, over real HTTP; its base URL."""
    app = create_app(committed_platform.settings)  # its own rate-limit counters
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-api", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    platform: Platform = app.extensions[EXTENSION]
    platform.broker.close()
    platform.engine.dispose()


@pytest.fixture()
def live_worker(settings: Settings, committed_platform: Platform) -> Iterator[RunningWorker]:
    worker = RunningWorker(settings).start()
    yield worker
    worker.stop()


def new_user(platform: Platform, *, admin: bool) -> str:
    """A verified user (committed); their e-mail address. The password is PASSWORD."""
    email = f"{'ops' if admin else 'member'}-{uuid.uuid4().hex[:6]}@example.com"
    with platform.sessions.begin() as session:
        make_user(session, admin=admin, email=email)
    return email


class ApiClient:
    """The API as a script would use it, with a user's access token."""

    def __init__(self, base_url: str, email: str) -> None:
        tokens = httpx.post(
            f"{base_url}/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        ).json()
        self.http = httpx.Client(
            base_url=base_url,
            timeout=15,
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )

    def submit(self, kind: str, params: dict[str, Any]) -> str:
        response = self.http.post("/api/v1/jobs", json={"kind": kind, "params": params})
        assert response.status_code == 202, response.text
        return str(response.json()["id"])


def log_in(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/admin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
