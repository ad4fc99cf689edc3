"""/api/v1/webhook-endpoints: registering, the secret shown once, rotation, the delivery log,
redelivery, and other organisations' endpoints out of reach."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import webhooks as outbound
from models.core.access import Role
from models.core.jobs import Job
from models.webhooks import DeliveryStatus, WebhookDelivery
from tests.api.conftest import Caller, a_job, org_member
from tests.conftest import org_of
from workers.core.setup import Platform
from workers.webhooks import notify

PATH = "/api/v1/webhook-endpoints"


def register(client: FlaskClient, who: Caller) -> dict:
    answer = client.post(
        PATH,
        json={"url": "https://hooks.example.com/in", "events": ["job.succeeded", "job.failed"]},
        headers=who.headers,
    )
    assert answer.status_code == 201, answer.json
    return answer.json  # type: ignore[no-any-return]


def test_the_secret_is_shown_once_and_rotation_shows_a_new_one(
    client: FlaskClient, alice: Caller
) -> None:
    made = register(client, alice)
    assert made["secret"].startswith("whsec_") and made["enabled"] is True
    listed = client.get(PATH, headers=alice.headers).json["items"]
    assert [e["id"] for e in listed] == [made["id"]] and "secret" not in listed[0]
    rotated = client.post(f"{PATH}/{made['id']}/rotate-secret", headers=alice.headers)
    assert rotated.status_code == 200
    assert rotated.json["secret"] not in (made["secret"], None)


def test_bad_urls_and_event_names_are_refused(client: FlaskClient, alice: Caller) -> None:
    for body in (
        {"url": "ftp://x.example.com/", "events": ["job.failed"]},
        {"url": "https://x.example.com/", "events": ["Job Failed"]},
        {"url": "https://x.example.com/", "events": []},
    ):
        assert client.post(PATH, json=body, headers=alice.headers).status_code == 422


def test_members_read_but_only_admins_manage(
    client: FlaskClient, tx_platform: Platform, session: Session, alice: Caller
) -> None:
    made = register(client, alice)
    member = org_member(tx_platform, session, org_of(session, alice.user.id), Role.MEMBER)
    headers = member.with_headers(X_Organization_ID=str(org_of(session, alice.user.id)))
    assert client.get(f"{PATH}/{made['id']}", headers=headers).status_code == 200
    assert client.delete(f"{PATH}/{made['id']}", headers=headers).status_code == 403
    assert client.post(f"{PATH}/{made['id']}/rotate-secret", headers=headers).status_code == 403


def test_another_organizations_endpoint_is_not_found(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    made = register(client, alice)
    for method, suffix in (("get", ""), ("delete", ""), ("get", "/deliveries")):
        answer = getattr(client, method)(f"{PATH}/{made['id']}{suffix}", headers=bob.headers)
        assert answer.status_code == 404


def test_the_delivery_log_and_redelivery(
    client: FlaskClient, tx_platform: Platform, session: Session, alice: Caller
) -> None:
    made = register(client, alice)
    org_id = org_of(session, alice.user.id)
    [delivery_id] = notify(
        session=session,
        dispatcher=tx_platform.dispatcher,
        org_id=org_id,
        event_type="job.succeeded",
        data={"job_id": "j"},
    )
    assert (
        notify(
            session=session,
            dispatcher=tx_platform.dispatcher,
            org_id=org_id,
            event_type="lead.found",  # not subscribed
            data={},
        )
        == []
    )
    session.commit()
    log = client.get(f"{PATH}/{made['id']}/deliveries", headers=alice.headers).json["items"]
    assert [(d["id"], d["status"], d["event_type"]) for d in log] == [
        (str(delivery_id), "pending", "job.succeeded")
    ]
    redo = f"{PATH}/{made['id']}/deliveries/{delivery_id}/redeliver"
    assert client.post(redo, headers=alice.headers).status_code == 409  # still being tried
    session.get_one(WebhookDelivery, delivery_id).status = DeliveryStatus.FAILED
    session.commit()
    again = client.post(redo, headers=alice.headers)
    assert again.status_code == 202 and again.json["status"] == "pending"
    jobs = session.scalars(select(Job).where(Job.kind == "webhooks.deliver")).all()
    assert len(jobs) == 2


def test_a_cancelled_job_is_notified_once_to_endpoints_that_want_it(
    client: FlaskClient, tx_platform: Platform, session: Session, alice: Caller
) -> None:
    wants = client.post(
        PATH,
        json={"url": "https://hooks.example.com/a", "events": ["job.cancelled"]},
        headers=alice.headers,
    ).json
    register(client, alice)  # succeeded and failed only
    org_id = org_of(session, alice.user.id)
    assert outbound.orgs_wanting_job_events(session=session) == [org_id]
    assert outbound.job_changes(session=session, org_id=org_id) == []  # starts from now
    job = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).json
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice.headers).status_code < 300
    [change] = outbound.job_changes(session=session, org_id=org_id)
    made = notify(
        session=session,
        dispatcher=tx_platform.dispatcher,
        org_id=org_id,
        event_type=f"job.{change.type}",
        data={"job_id": str(change.job_id)},
        key=f"job_event:{change.id}",
    )
    again = notify(
        session=session,
        dispatcher=tx_platform.dispatcher,
        org_id=org_id,
        event_type=f"job.{change.type}",
        data={"job_id": str(change.job_id)},
        key=f"job_event:{change.id}",
    )
    assert (len(made), again) == (1, [])
    [delivery] = session.scalars(select(WebhookDelivery)).all()
    assert (str(delivery.endpoint_id), delivery.payload["type"]) == (wants["id"], "job.cancelled")
    assert delivery.payload["data"] == {"job_id": job["id"]}
