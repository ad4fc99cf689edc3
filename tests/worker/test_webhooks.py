"""Outbound webhooks on a real worker, to a local receiver: signed as the reference library
verifies, retried with the same webhook-id, 410 disabling the endpoint and mailing owners."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import standardwebhooks
from sqlalchemy import select
from werkzeug.wrappers import Request, Response

from config import Settings
from devstack.fakes import Served, serve
from models.core.jobs import Job
from models.webhooks import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    create_endpoint,
    rotate_secret,
)
from tests.conftest import make_user, org_of
from tests.worker.conftest import RunningWorker, eventually
from workers.core.setup import Platform
from workers.webhooks import notify, post, sign


class Receiver:
    """Answers each request with the next status of `answers` (then 200) and keeps it."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[bytes, dict[str, str]]] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self.lock:
            self.requests.append((request.get_data(), dict(request.headers)))
            status = self.answers.pop(0) if self.answers else 200
        headers = {"Retry-After": "1"} if status == 429 else {}
        return Response("ok", status, headers=headers)(environ, start_response)


@pytest.fixture()
def local_worker(settings: Settings, committed_platform: Platform) -> Iterator[RunningWorker]:
    worker = RunningWorker(settings.replace(outbound_allowed_networks=("127.0.0.1/32",))).start()
    yield worker
    worker.stop()


def endpoint_for(platform: Platform, url: str) -> tuple[uuid.UUID, WebhookEndpoint]:
    with platform.sessions.begin() as session:
        org_id = org_of(session, make_user(session).id)
        endpoint = create_endpoint(session=session, org_id=org_id, url=url, events=["job.failed"])
        session.expunge(endpoint)
    return org_id, endpoint


def delivered(platform: Platform, org_id: uuid.UUID) -> list[uuid.UUID]:
    with platform.sessions.begin() as session:
        return notify(
            session=session,
            dispatcher=platform.dispatcher,
            org_id=org_id,
            event_type="job.failed",
            data={"job_id": "j1"},
        )


def delivery(platform: Platform, delivery_id: uuid.UUID) -> WebhookDelivery:
    with platform.sessions() as session:
        return session.get_one(WebhookDelivery, delivery_id)


def test_a_failed_delivery_is_retried_with_the_same_id_and_verifies(
    committed_platform: Platform, local_worker: RunningWorker
) -> None:
    receiver = Receiver([503])
    served: Served = serve(receiver)
    try:
        org_id, endpoint = endpoint_for(committed_platform, served.url + "/hook")
        [delivery_id] = delivered(committed_platform, org_id)
        assert eventually(
            lambda: delivery(committed_platform, delivery_id).status == DeliveryStatus.DELIVERED,
            timeout_s=20,
        )
    finally:
        served.stop()
    assert len(receiver.requests) == 2
    ids = {headers["Webhook-Id"] for _, headers in receiver.requests}
    assert ids == {delivery(committed_platform, delivery_id).msg_id}
    body, headers = receiver.requests[-1]
    payload = standardwebhooks.Webhook(endpoint.secret).verify(body, headers)
    assert (payload["type"], payload["data"]) == ("job.failed", {"job_id": "j1"})
    with committed_platform.sessions() as session:
        log = session.scalars(
            select(WebhookAttempt.status_code)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.attempt)
        ).all()
    assert log == [503, 200]


def test_410_disables_the_endpoint_and_mails_its_owners(
    committed_platform: Platform, local_worker: RunningWorker
) -> None:
    served = serve(Receiver([410]))
    try:
        org_id, endpoint = endpoint_for(committed_platform, served.url + "/gone")
        [delivery_id] = delivered(committed_platform, org_id)
        assert eventually(
            lambda: delivery(committed_platform, delivery_id).status == DeliveryStatus.FAILED,
            timeout_s=10,
        )
    finally:
        served.stop()
    with committed_platform.sessions() as session:
        stored = session.get_one(WebhookEndpoint, endpoint.id)
        assert (stored.enabled, stored.disabled_reason) == (False, "the endpoint answered 410 Gone")
        mails = session.scalars(select(Job).where(Job.kind == "email.send")).all()
        assert any("was disabled" in m.params["subject"] for m in mails)
    assert delivered(committed_platform, org_id) == []  # a disabled endpoint gets nothing


def test_loopback_is_refused_unless_allowed(settings: Settings) -> None:
    served = serve(Receiver([]))
    try:
        secret = "whsec_" + "A" * 44
        outcome = post(settings, served.url, [secret], "msg_1", {"type": "t"})
        assert outcome["status_code"] is None
        assert outcome["error"].startswith("BlockedAddress")
        allowed = settings.replace(outbound_allowed_networks=("127.0.0.1/32",))
        assert post(allowed, served.url, [secret], "msg_1", {"type": "t"})["status_code"] == 200
    finally:
        served.stop()


def test_a_rotated_endpoint_signs_with_both_secrets(
    committed_platform: Platform,
) -> None:
    _, endpoint = endpoint_for(committed_platform, "https://example.com/hook")
    old = endpoint.secret
    with committed_platform.sessions.begin() as session:
        fresh = session.get_one(WebhookEndpoint, endpoint.id)
        rotate_secret(session=session, endpoint=fresh)
        secrets = fresh.signing_secrets()
    assert secrets[1] == old and secrets[0] != old
    ts = int(time.time())
    header = sign(secrets, "msg_r", ts, b'{"a":1}')
    headers = {"webhook-id": "msg_r", "webhook-timestamp": str(ts), "webhook-signature": header}
    for secret in secrets:
        assert standardwebhooks.Webhook(secret).verify(b'{"a":1}', headers) == {"a": 1}
