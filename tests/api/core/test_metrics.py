"""/metrics: Prometheus text that prometheus-client's own parser reads, with the figures an
operator would look for after what just happened, and access as documented."""

from __future__ import annotations

import uuid
from dataclasses import replace

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from config import Settings
from models.accounts.users import utcnow
from models.core.jobs import JobStatus
from tests.api.conftest import Caller, a_job
from tests.api.core.test_admin_ops import failed, stored_job
from tests.metrics import Samples, parse, value
from web import create_app
from workers.core.setup import Platform

JOB_ROUTE = "/api/v1/jobs/<uuid:job_id>"


def scrape(client: FlaskClient, **headers: str) -> tuple[set[str], Samples]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return parse(response.get_data(as_text=True))


def test_a_request_is_counted_by_route_and_status(client: FlaskClient, alice: Caller) -> None:
    _, before = scrape(client)
    job_id = uuid.uuid4()
    missing = client.get(f"/api/v1/jobs/{job_id}", headers=alice.headers)
    assert missing.status_code == 404
    client.get("/no/such/path")
    names, after = scrape(client)

    requests = "backline_http_requests_total"
    labels = {"method": "GET", "route": JOB_ROUTE, "status": "404"}
    assert value(after, requests, **labels) == value(before, requests, **labels) + 1
    assert value(after, requests, method="GET", route="<unmatched>", status="404") >= 1
    count = "backline_http_request_duration_seconds_count"
    assert value(after, count, method="GET", route=JOB_ROUTE) >= 1
    assert "backline_webhook_signature_failures" in names
    # The route is the URL rule: an id in the path never becomes a label value.
    assert not any(str(job_id) in label for _, labels in after for _, label in labels)


def test_platform_figures_are_computed_at_scrape_time(
    client: FlaskClient, tx_platform: Platform, session: Session, alice: Caller
) -> None:
    assert client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).status_code == 202
    failed(session, alice)
    failed(session, alice)
    stored_job(session, alice, attempts=1, status=JobStatus.QUEUED, run_after=utcnow())

    names, samples = scrape(client)

    assert {"backline_jobs", "backline_queue_depth", "backline_dead_letter_jobs"} <= names
    assert value(samples, "backline_jobs", kind="test.pages", queue="test", status="queued") == 2
    assert value(samples, "backline_jobs", kind="test.pages", queue="test", status="failed") == 2
    assert value(samples, "backline_dead_letter_jobs", kind="test.pages") == 2
    assert value(samples, "backline_retries_scheduled", kind="test.pages") == 1
    assert value(samples, "backline_queue_depth", queue="test") >= 1
    assert value(samples, "backline_queue_paused", queue="test") == 0
    for source in ("database", "broker", "redis"):
        assert value(samples, "backline_scrape_source_up", source=source) == 1


def test_a_metrics_token_is_required_when_set(tx_platform: Platform) -> None:
    settings = tx_platform.settings.replace(metrics_token="scrape-me")  # noqa: S106
    client = create_app(platform=_with(tx_platform, settings)).test_client()

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert scrape(client, Authorization="Bearer scrape-me")[0]


def test_without_a_token_production_has_no_metrics_endpoint(tx_platform: Platform) -> None:
    settings = tx_platform.settings.replace(env="production", jwt_secret="p" * 48)
    client = create_app(platform=_with(tx_platform, settings)).test_client()

    response = client.get("/metrics")

    assert response.status_code == 404
    assert set(response.json) == {"code", "message", "details", "request_id"}


def _with(platform: Platform, settings: Settings) -> Platform:
    return replace(platform, settings=settings)


def test_invented_methods_do_not_make_new_series(client: FlaskClient) -> None:
    for n in range(20):
        client.open("/healthz", method=f"X{n}")
    _, after = scrape(client)

    methods = {
        dict(labels)["method"] for name, labels in after if name == "backline_http_requests_total"
    }
    assert not any(m.startswith("X") for m in methods)
    assert (
        value(
            after, "backline_http_requests_total", method="other", route="<unmatched>", status="405"
        )
        >= 20
    )
