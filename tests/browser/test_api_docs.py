"""The API docs in a real browser: Swagger UI runs under the page's CSP, from the API's origin."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import ConsoleLog

pytestmark = pytest.mark.browser
# A host name as in production: Swagger UI behaves differently on localhost and 127.0.0.1
# (it leaves out the online validator's badge, an image from a third party).
ORIGIN = "https://api.backline.test"


def test_swagger_ui_renders_and_calls_the_api_with_nothing_from_elsewhere(
    page: Page, console: ConsoleLog, live_api: str
) -> None:
    elsewhere: list[str] = []

    def serve(route: Route) -> None:
        url = route.request.url
        if url.startswith(ORIGIN + "/"):
            route.fulfill(response=route.fetch(url=live_api + url.removeprefix(ORIGIN)))
        else:
            elsewhere.append(url)
            route.abort()

    page.route("**/*", serve)
    page.goto(f"{ORIGIN}/api/docs")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Backline API")
    expect(page.locator(".opblock-tag[data-tag='leads']")).to_be_visible()  # every tag, folded
    page.locator(".opblock-tag[data-tag='health']").click()
    page.locator(".opblock-summary-path[data-path='/healthz']").first.click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    status = page.locator(".live-responses-table tbody .response-col_status").first
    expect(status).to_have_text("200")
    assert elsewhere == []
    assert console.problems() == []  # a CSP violation would be logged here
