"""A fan's paid subscription, end to end over HTTP through the fake Stripe and its signed
events: paid only once Stripe's signed event is applied (once), free again when the
subscription ends; the public check says whether it cleared and nothing else."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from devstack.fakes import Served, serve
from devstack.fakes.stripe import FAKE_WEBHOOK_SECRET, StripeFake, create_app, sign
from models.core.webhooks import WebhookEvent
from models.fans.checkouts import FanCheckout
from models.orgs import Organization
from tests.api.conftest import Caller
from tests.conftest import org_of
from web import create_app as create_api
from workers.core.setup import Platform
from workers.core.webhooks import process_event

KEY = "sk_test_backline"
PAGE = {"slug": "the-band", "name": "The Band", "bio": "Loud."}
CHECKOUTS = "/api/v1/public/artists/the-band/checkouts"


@pytest.fixture()
def stripe_fake() -> Iterator[tuple[StripeFake, Served]]:
    fake = create_app(send=False)
    served = serve(fake)
    yield fake, served
    served.stop()


def app_with(tx_platform: Platform, tmp_path: Path, stripe_url: str, **overrides: Any) -> Flask:
    settings = tx_platform.settings.replace(
        storage_url=str(tmp_path / "storage"),
        stripe_api_key=KEY,
        stripe_api_base_url=stripe_url,
        stripe_webhook_secrets=(FAKE_WEBHOOK_SECRET,),
        **overrides,
    )
    return create_api(platform=dataclasses.replace(tx_platform, settings=settings))


@pytest.fixture()
def app(tx_platform: Platform, tmp_path: Path, stripe_fake: tuple[StripeFake, Served]) -> Flask:
    return app_with(tx_platform, tmp_path, stripe_fake[1].url)


@pytest.fixture()
def page(client: FlaskClient, alice: Caller) -> dict[str, Any]:
    answer = client.put("/api/v1/fans/page", json=PAGE, headers=alice.headers)
    assert answer.status_code == 200, answer.json
    return answer.json  # type: ignore[no-any-return]


def deliver(client: FlaskClient, app: Flask, session: Session, fake: StripeFake) -> list[int]:
    """Post what the fake sent to the webhook endpoint, then process each stored event as
    the worker would; the endpoint's status codes."""
    codes = [
        client.post("/api/v1/webhooks/stripe", data=body, headers=headers).status_code
        for body, headers in fake.sent
    ]
    fake.sent.clear()
    settings = app.extensions["backline"].settings
    for event_id in session.scalars(select(WebhookEvent.id).order_by(WebhookEvent.received_at)):
        process_event(session=session, event_id=event_id, settings=settings)
    session.commit()
    return codes


def fans_of(client: FlaskClient, who: Caller) -> dict[str, dict[str, Any]]:
    items = client.get("/api/v1/fans", headers=who.headers).json["items"]
    return {fan["email"]: fan for fan in items}


def test_a_fan_is_paid_only_once_stripes_signed_event_says_so_and_free_when_it_ends(
    app: Flask,
    client: FlaskClient,
    session: Session,
    alice: Caller,
    page: Any,
    stripe_fake: tuple[StripeFake, Served],
) -> None:
    fake, served = stripe_fake
    added = client.post(
        "/api/v1/fans", json={"email": "fan@example.com", "name": "A Fan"}, headers=alice.headers
    )
    assert added.status_code == 201, added.json
    tier = session.get_one(Organization, org_of(session, alice.user.id)).tier

    created = client.post(CHECKOUTS, json={"email": "Fan@Example.com"})
    assert created.status_code == 201, created.json
    checkout = created.json
    assert checkout["url"].startswith(served.url)
    item = f"/api/v1/public/checkouts/{checkout['id']}"
    assert client.get(item).json == {"id": checkout["id"], "artist": "the-band", "paid": False}

    # The fan pays on Stripe's page; Stripe sends its signed events.
    paid = httpx.post(checkout["url"], follow_redirects=False)
    assert paid.status_code == 303
    assert paid.headers["Location"].endswith(f"/the-band?checkout={checkout['id']}")
    assert client.get(item).json["paid"] is False  # nothing until the events
    assert fans_of(client, alice)["fan@example.com"]["status"] == "free"
    sent = list(fake.sent)
    assert deliver(client, app, session, fake) == [202, 202]
    assert client.get(item).json == {"id": checkout["id"], "artist": "the-band", "paid": True}
    assert fans_of(client, alice)["fan@example.com"]["status"] == "paid"
    session.expire_all()
    # The artist's own tier is billing's: a fan's subscription does not touch it.
    assert session.get_one(Organization, org_of(session, alice.user.id)).tier == tier

    # Stripe delivers them again: acknowledged, not applied twice.
    fake.sent.extend(sent)
    assert deliver(client, app, session, fake) == [200, 200]

    # The fan cancels: the signed event makes them free again.
    sub_id = json.loads(sent[1][0])["data"]["object"]["id"]
    auth = {"Authorization": f"Bearer {KEY}"}
    assert httpx.delete(f"{served.url}/v1/subscriptions/{sub_id}", headers=auth).is_success
    assert deliver(client, app, session, fake) == [202]
    assert fans_of(client, alice)["fan@example.com"]["status"] == "free"


def test_a_paying_stranger_is_added_as_a_paid_fan_without_consent_to_mail(
    app: Flask,
    client: FlaskClient,
    session: Session,
    alice: Caller,
    page: Any,
    stripe_fake: tuple[StripeFake, Served],
) -> None:
    checkout = client.post(CHECKOUTS, json={"email": "new@example.com"}).json
    httpx.post(checkout["url"], follow_redirects=False)
    deliver(client, app, session, stripe_fake[0])

    fan = fans_of(client, alice)["new@example.com"]
    assert (fan["status"], fan["source"], fan["consent"]) == ("paid", "paid_subscription", False)


def test_a_fan_subscribed_twice_stays_paid_until_both_end(
    app: Flask,
    client: FlaskClient,
    session: Session,
    alice: Caller,
    page: Any,
    stripe_fake: tuple[StripeFake, Served],
) -> None:
    fake, served = stripe_fake
    subscriptions = []
    for _ in range(2):
        checkout = client.post(CHECKOUTS, json={"email": "twice@example.com"}).json
        httpx.post(checkout["url"], follow_redirects=False)
        subscriptions.append(json.loads(fake.sent[1][0])["data"]["object"]["id"])
        deliver(client, app, session, fake)
    auth = {"Authorization": f"Bearer {KEY}"}

    statuses = []
    for sub_id in subscriptions:
        httpx.delete(f"{served.url}/v1/subscriptions/{sub_id}", headers=auth)
        deliver(client, app, session, fake)
        statuses.append(fans_of(client, alice)["twice@example.com"]["status"])
    assert statuses == ["paid", "free"]


def test_a_removed_fans_checkouts_keep_the_books_but_not_the_address(
    app: Flask,
    client: FlaskClient,
    session: Session,
    alice: Caller,
    bob: Caller,
    page: Any,
    stripe_fake: tuple[StripeFake, Served],
) -> None:
    fake, served = stripe_fake
    paid = client.post(CHECKOUTS, json={"email": "gone@example.com"}).json
    httpx.post(paid["url"], follow_redirects=False)
    sub_id = json.loads(fake.sent[1][0])["data"]["object"]["id"]
    deliver(client, app, session, fake)
    pending = client.post(CHECKOUTS, json={"email": "Gone@Example.com"}).json  # not paid yet
    kept = client.post(CHECKOUTS, json={"email": "stays@example.com"}).json
    other_page = {**PAGE, "slug": "other-band"}
    assert client.put("/api/v1/fans/page", json=other_page, headers=bob.headers).status_code == 200
    elsewhere = client.post(
        "/api/v1/public/artists/other-band/checkouts", json={"email": "gone@example.com"}
    ).json

    fan = fans_of(client, alice)["gone@example.com"]
    assert client.delete(f"/api/v1/fans/{fan['id']}", headers=alice.headers).status_code == 204

    session.expire_all()
    book = session.get_one(FanCheckout, paid["id"])
    assert (book.email, book.paid, book.stripe_subscription_id) == ("", True, sub_id)
    assert book.completed_at is not None and book.url == paid["url"]
    assert session.get_one(FanCheckout, pending["id"]).email == ""
    # Another fan's checkout, and the same address's with another artist, are not touched.
    assert session.get_one(FanCheckout, kept["id"]).email == "stays@example.com"
    assert session.get_one(FanCheckout, elsewhere["id"]).email == "gone@example.com"
    mine = select(FanCheckout.email).where(FanCheckout.org_id == org_of(session, alice.user.id))
    assert "gone@example.com" not in session.scalars(mine).all()

    # Stripe's later events for those checkouts apply to them and put no fan back.
    httpx.post(pending["url"], follow_redirects=False)
    auth = {"Authorization": f"Bearer {KEY}"}
    assert httpx.delete(f"{served.url}/v1/subscriptions/{sub_id}", headers=auth).is_success
    assert deliver(client, app, session, fake) == [202, 202, 202]
    session.expire_all()
    assert session.get_one(FanCheckout, pending["id"]).paid is True
    assert session.get_one(FanCheckout, paid["id"]).ended_at is not None
    assert set(fans_of(client, alice)) == set()
    assert client.get(f"/api/v1/public/checkouts/{paid['id']}").json["paid"] is True


def test_a_forged_event_pays_for_nothing(client: FlaskClient, alice: Caller, page: Any) -> None:
    checkout = client.post(CHECKOUTS, json={"email": "fan@example.com"}).json
    event = {
        "id": "evt_forged",
        "type": "checkout.session.completed",
        "created": 2_000_000_000,
        "data": {"object": {"id": checkout["id"], "payment_status": "paid"}},
    }
    body = json.dumps(event).encode()
    for headers in ({}, {"Stripe-Signature": sign(body, "whsec_guessed")}):
        assert client.post("/api/v1/webhooks/stripe", data=body, headers=headers).status_code == 401
    assert client.get(f"/api/v1/public/checkouts/{checkout['id']}").json["paid"] is False
    assert "fan@example.com" not in fans_of(client, alice)


def test_the_public_check_knows_fans_checkouts_only(
    client: FlaskClient, session: Session, alice: Caller, page: Any
) -> None:
    org_id = org_of(session, alice.user.id)
    tier = client.post(
        f"/api/v1/orgs/{org_id}/billing/checkout", json={"tier": "creator"}, headers=alice.headers
    )
    assert tier.status_code == 201
    assert client.get(f"/api/v1/public/checkouts/{tier.json['id']}").status_code == 404
    assert client.get("/api/v1/public/checkouts/cs_test_unknown").status_code == 404
    assert client.get(f"/api/v1/public/checkouts/{'x' * 600}").status_code == 404
    # Ids PostgreSQL cannot hold (a NUL, a lone surrogate) are as unknown, not a 500.
    for odd in ("%00", "cs_%00", "%ED%A0%80"):
        assert client.get(f"/api/v1/public/checkouts/{odd}").status_code == 404
        billing = f"/api/v1/orgs/{org_id}/billing/checkouts/{odd}"
        assert client.get(billing, headers=alice.headers).status_code == 404


def test_bad_requests_are_refused_and_record_nothing(
    client: FlaskClient, session: Session, page: Any
) -> None:
    assert client.post(CHECKOUTS, json={"email": "not-an-address"}).status_code == 422
    unknown = "/api/v1/public/artists/nobody-here/checkouts"
    assert client.post(unknown, json={"email": "fan@example.com"}).status_code == 404
    assert session.scalars(select(FanCheckout)).all() == []


def test_checkouts_are_limited_per_ip(
    tx_platform: Platform,
    tmp_path: Path,
    alice: Caller,
    stripe_fake: tuple[StripeFake, Served],
) -> None:
    client = app_with(
        tx_platform, tmp_path, stripe_fake[1].url, rate_limit_fan_checkout="2/hour"
    ).test_client()
    assert client.put("/api/v1/fans/page", json=PAGE, headers=alice.headers).status_code == 200
    answers = [
        client.post(CHECKOUTS, json={"email": f"f{i}@example.com"}).status_code for i in range(3)
    ]
    other_ip = client.post(
        CHECKOUTS, json={"email": "g@example.com"}, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert answers == [201, 201, 429]
    assert other_ip.status_code == 201


def test_an_unreachable_stripe_is_a_503_to_retry(
    tx_platform: Platform, tmp_path: Path, alice: Caller
) -> None:
    client = app_with(tx_platform, tmp_path, "http://127.0.0.1:9").test_client()
    assert client.put("/api/v1/fans/page", json=PAGE, headers=alice.headers).status_code == 200
    answer = client.post(CHECKOUTS, json={"email": "fan@example.com"})
    assert (answer.status_code, answer.json["code"]) == (503, "payment_provider_unavailable")
