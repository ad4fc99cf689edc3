"""The API's request log: one line per request, whatever the request holds."""

from __future__ import annotations

import json
import logging

import pytest

from config.logging import HANDLER_NAME
from web import create_app
from workers.core.setup import Platform

FORGED = "12:00:00 INFO  backline.web.requests: GET /api/v1/admin/users 200"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_path_with_line_breaks_is_logged_on_one_line(
    tx_platform: Platform, caplog: pytest.LogCaptureFixture, log_format: str
) -> None:
    settings = tx_platform.settings.replace(log_format=log_format)
    client = create_app(settings, platform=tx_platform).test_client()
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == HANDLER_NAME)
    caplog.set_level(logging.INFO, logger="backline.web.requests")

    answer = client.get("/api/v1/jobs%0a%0d" + FORGED.replace(" ", "%20") + "%0d%0a")

    assert answer.status_code == 404
    (entry,) = [r for r in caplog.records if r.name == "backline.web.requests"]
    output = handler.format(entry)
    assert len(output.splitlines()) == 1
    if log_format == "text":
        assert "GET /api/v1/jobs\\n\\r" + FORGED + "\\r\\n 404" in output
    else:
        assert json.loads(output)["event"] == "GET /api/v1/jobs\n\r" + FORGED + "\r\n 404"
