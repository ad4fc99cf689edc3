"""POST /api/v1/webhooks/<source>: verified, stored once, handed to a job; and the admin list."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import standardwebhooks
import stripe
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from models.core.jobs import Job
from models.core.webhooks import WebhookEvent, WebhookStatus
from tests.api.conftest import Caller
from tests.api.core.test_metrics import scrape
from tests.metrics import value
from tests.unit.core.test_webhook_signatures import CURRENT, NEXT, qstash_token
from web import create_app
from workers.core.setup import Platform
from workers.core.webhooks import ReceivedEvent, process_event, webhook_handler

RESEND = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STRIPE = "whsec_test_secret"
HANDLED: list[str] = []
SETTINGS = Settings()  # the handlers under test read none


@webhook_handler("resend", "test.handled")
def _record(session: Session, event: ReceivedEvent, settings: Settings) -> None:
    HANDLED.append(event.json()["data"]["n"])


@pytest.fixture()
def app(tx_platform: Platform) -> Flask:
    settings = tx_platform.settings.replace(
        resend_webhook_secrets=(RESEND,),
        stripe_webhook_secrets=(STRIPE,),
        qstash_current_signing_key=CURRENT,
        qstash_next_signing_key=NEXT,
        webhook_max_body_bytes=4096,
    )
    return create_app(platform=dataclasses.replace(tx_platform, settings=settings))


def signed(body: dict[str, Any], msg_id: str = "msg_1", secret: str = RESEND) -> dict[str, Any]:
    raw = json.dumps(body)
    now = datetime.now(UTC)
    return {
        "data": raw,
        "content_type": "application/json",
        "headers": {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": standardwebhooks.Webhook(secret).sign(msg_id, now, raw),
        },
    }


def stored(session: Session) -> list[WebhookEvent]:
    return list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.received_at)))


def test_a_signed_event_is_stored_and_a_job_will_process_it(
    client: FlaskClient, session: Session
) -> None:
    answer = client.post("/api/v1/webhooks/resend", **signed({"type": "email.bounced"}))
    assert answer.status_code == 202, answer.json
    assert answer.json["status"] == "accepted"
    [event] = stored(session)
    assert (event.source, event.event_type, event.status) == (
        "resend",
        "email.bounced",
        WebhookStatus.RECEIVED,
    )
    job = session.get_one(Job, event.job_id)
    assert (job.kind, job.params, job.internal) == (
        "webhooks.process",
        {"event_id": str(event.id)},
        True,
    )


def test_a_replayed_message_is_acknowledged_and_not_run_again(
    client: FlaskClient, session: Session
) -> None:
    first = client.post("/api/v1/webhooks/resend", **signed({"type": "a"}, "msg_same"))
    again = client.post("/api/v1/webhooks/resend", **signed({"type": "a"}, "msg_same"))
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json == {"id": first.json["id"], "status": "duplicate"}
    assert len(stored(session)) == 1
    jobs = session.scalars(select(Job).where(Job.kind == "webhooks.process")).all()
    assert len(jobs) == 1


def test_stripe_and_qstash_requests_verify_through_the_endpoint(
    client: FlaskClient, session: Session
) -> None:
    body = json.dumps({"id": "evt_42", "type": "customer.subscription.updated"})
    header = stripe.WebhookSignature.generate_signature_header(body, STRIPE)
    answer = client.post("/api/v1/webhooks/stripe", data=body, headers={"Stripe-Signature": header})
    assert answer.status_code == 202
    qbody = b"plain text is fine"
    token = qstash_token(NEXT, qbody, sub="http://localhost/api/v1/webhooks/qstash")
    answer = client.post(
        "/api/v1/webhooks/qstash",
        data=qbody,
        headers={"Upstash-Signature": token, "Upstash-Message-Id": "msg_q1"},
        content_type="text/plain",
    )
    assert answer.status_code == 202
    # The same token under another message id is the same delivery: not run twice.
    replayed = client.post(
        "/api/v1/webhooks/qstash",
        data=qbody,
        headers={"Upstash-Signature": token, "Upstash-Message-Id": "msg_q2"},
        content_type="text/plain",
    )
    assert replayed.status_code == 200
    assert [(e.source, e.message_id) for e in stored(session)] == [
        ("stripe", "evt_42"),
        ("qstash", "msg_q1"),
    ]


def test_an_unverified_request_is_a_bare_401_and_is_counted(
    client: FlaskClient, session: Session
) -> None:
    _, before = scrape(client)
    wrong = signed({"type": "a"}, secret="whsec_" + "A" * 32)
    tampered = signed({"type": "a"})
    tampered["data"] = tampered["data"].replace("a", "b")
    missing = {"data": "{}", "content_type": "application/json"}
    for request in (wrong, tampered, missing):
        answer = client.post("/api/v1/webhooks/resend", **request)
        assert answer.status_code == 401
        assert answer.json["message"] == "the request's signature did not verify"
        assert answer.json.get("details") in (None, {})
    _, after = scrape(client)
    name = "backline_webhook_signature_failures_total"
    labels = {"source": "resend", "reason": "no_matching_signature"}
    assert value(after, name, **labels) == value(before, name, **labels) + 2
    assert stored(session) == []


def test_unknown_sources_and_oversize_bodies_are_refused(client: FlaskClient) -> None:
    assert client.post("/api/v1/webhooks/nobody", **signed({})).status_code == 404
    big = signed({"type": "a", "pad": "x" * 5000})
    assert client.post("/api/v1/webhooks/resend", **big).status_code == 413


def test_processing_runs_the_registered_handler_once_and_ignores_unknown_types(
    client: FlaskClient, session: Session
) -> None:
    client.post("/api/v1/webhooks/resend", **signed({"type": "test.handled", "data": {"n": "7"}}))
    client.post("/api/v1/webhooks/resend", **signed({"type": "nobody.cares"}, "msg_2"))
    handled, ignored = stored(session)
    HANDLED.clear()
    assert (
        process_event(settings=SETTINGS, session=session, event_id=handled.id)
        == WebhookStatus.PROCESSED
    )
    assert (
        process_event(settings=SETTINGS, session=session, event_id=handled.id)
        == WebhookStatus.PROCESSED
    )
    assert HANDLED == ["7"]
    assert (
        process_event(settings=SETTINGS, session=session, event_id=ignored.id)
        == WebhookStatus.IGNORED
    )


def test_admins_list_events_and_replay_one(
    client: FlaskClient, session: Session, admin: Caller, alice: Caller
) -> None:
    client.post("/api/v1/webhooks/resend", **signed({"type": "test.handled", "data": {"n": "1"}}))
    [event] = stored(session)
    listed = client.get("/api/v1/admin/webhook-events?source=resend", headers=admin.headers)
    assert listed.status_code == 200
    [item] = listed.json["items"]
    assert (item["id"], item["status"], item["event_type"]) == (
        str(event.id),
        "received",
        "test.handled",
    )
    early = client.post(f"/api/v1/admin/webhook-events/{event.id}/replay", headers=admin.headers)
    assert early.status_code == 409
    process_event(settings=SETTINGS, session=session, event_id=event.id)
    session.commit()
    HANDLED.clear()
    again = client.post(f"/api/v1/admin/webhook-events/{event.id}/replay", headers=admin.headers)
    assert again.status_code == 202
    assert again.json["event"]["status"] == "received"
    assert (
        process_event(settings=SETTINGS, session=session, event_id=event.id)
        == WebhookStatus.PROCESSED
    )
    assert HANDLED == ["1"]
    forbidden = client.get("/api/v1/admin/webhook-events", headers=alice.headers)
    assert forbidden.status_code == 403
