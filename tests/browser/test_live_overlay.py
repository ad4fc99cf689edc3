"""An overlay in a real browser, as an OBS browser source loads it: the page from its link
plays a triggered effect as it happens, queued effects in turn, and goes quiet when the
link is revoked."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from models.accounts.users import User
from tests.browser.conftest import ApiClient, ConsoleLog, new_user
from tests.conftest import org_of
from workers.core.setup import Platform

pytestmark = pytest.mark.browser
HOSTILE = "<img src=x onerror=document.title='pwned'>"


def creator(platform: Platform) -> str:
    email = new_user(platform, admin=False)
    with platform.sessions.begin() as session:
        user = session.query(User).filter_by(email=email).one()
        session.execute(
            text("UPDATE organizations SET tier = 'creator' WHERE id = :id"),
            {"id": org_of(session, user.id)},
        )
    return email


def test_an_overlay_page_plays_a_triggered_effect_as_it_happens(
    page: Page, console: ConsoleLog, live_api: str, committed_platform: Platform
) -> None:
    api = ApiClient(live_api, creator(committed_platform))
    live = api.http.post("/api/v1/live/sessions", json={"platform": "twitch", "title": "t"}).json()
    link = api.http.post(f"/api/v1/live/sessions/{live['id']}/overlays", json={}).json()
    effects = api.http.get("/api/v1/live/effects?category=alert").json()["items"]
    follower = next(e for e in effects if e["animation"] == "follower-alert")
    hearts = next(
        e
        for e in api.http.get("/api/v1/live/effects").json()["items"]
        if e["animation"] == "hearts"
    )

    page.goto(link["overlay_url"])
    expect(page.locator("body")).to_have_attribute("data-state", "live")

    def trigger(effect_id: str, message: str | None = None) -> None:
        answer = api.http.post(
            f"/api/v1/live/sessions/{live['id']}/effects",
            json={"effect_id": effect_id, "message": message},
        )
        assert answer.status_code == 201, answer.text

    trigger(follower["id"], f"Welcome, {HOSTILE}")
    trigger(hearts["id"])
    shown = page.locator('#stage .effect[data-seq="1"]')
    expect(shown).to_be_visible()
    expect(shown).to_have_class("effect follower-alert")
    expect(shown).to_contain_text(f"Welcome, {HOSTILE}")  # as text: no element, no script
    assert page.locator("#stage img").count() == 0
    # The second waits its turn: one effect on screen at a time, then the next.
    expect(page.locator("#stage .effect")).to_have_count(1)
    expect(page.locator('#stage .effect[data-seq="2"]')).to_be_visible()
    expect(page.locator("#played li")).to_have_count(2)
    assert page.title() != "pwned"

    # Revoked, the link's stream ends and is refused when the page tries again.
    api.http.delete(f"/api/v1/live/sessions/{live['id']}/overlays/{link['id']}")
    expect(page.locator("body")).to_have_attribute("data-state", "closed")
    trigger(hearts["id"])
    page.wait_for_timeout(1000)
    expect(page.locator("#played li")).to_have_count(2)
    # The stream's 401 on reconnection is the one console error expected.
    assert [e for e in console.problems() if "401" not in e] == []
