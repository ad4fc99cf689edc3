"""One request id follows a request from the API into the logs of the job it submitted, and
production logs are one JSON object per line."""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from config.logging import JsonFormatter
from models.accounts.users import User
from tests.conftest import access_token, make_user
from tests.worker.conftest import eventually, wait_for
from web import create_app
from workers.core.setup import Platform
from workers.core.tracking import Runtime


def test_the_request_id_follows_a_request_into_its_jobs_logs(
    committed_platform: Platform, worker: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    with committed_platform.sessions() as session:
        user: User = make_user(session)
        session.commit()
        token = access_token(committed_platform, session, user)
    client = create_app(platform=committed_platform).test_client()
    request_id = f"trace-{uuid.uuid4().hex[:12]}"
    caplog.set_level(logging.INFO)

    submitted = client.post(
        "/api/v1/jobs",
        json={"kind": "test.pages", "params": {"pages": 2, "fail_at": 9}},
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id},
    )
    wait_for(committed_platform, uuid.UUID(submitted.json["id"]))

    def traced_records() -> list[logging.LogRecord]:
        return [r for r in caplog.records if getattr(r, "request_id", None) == request_id]

    # The worker logs the success once it is written, so that line may follow the row's
    # change by a moment.
    eventually(lambda: any(r.getMessage() == "job succeeded" for r in traced_records()))
    traced = traced_records()
    seen = {(r.name, r.getMessage().split(" ")[0]) for r in traced}
    assert ("backline.web.requests", "POST") in seen  # the API's line for the request
    assert ("backline.worker", "job") in seen  # "job started" / "job succeeded"
    worker_lines = [r.getMessage() for r in traced if r.name == "backline.worker"]
    assert {"job started", "job succeeded"} <= set(worker_lines)
    for record in traced:  # and in production's format, the id is a JSON field
        entry = json.loads(JsonFormatter().format(record))
        assert entry["request_id"] == request_id and entry["level"] == "info"
    api_line = next(r for r in traced if r.name == "backline.web.requests")
    assert api_line.status == 202 and api_line.route == "/api/v1/jobs"  # type: ignore[attr-defined]
    assert api_line.user_id == str(user.id)  # type: ignore[attr-defined]
