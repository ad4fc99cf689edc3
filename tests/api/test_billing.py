"""Trials and paid tiers, end to end through the fake Stripe and its signed events."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from devstack.fakes import Served, serve
from devstack.fakes.stripe import FAKE_WEBHOOK_SECRET, StripeFake, create_app, sign
from models import billing
from models.accounts import User
from models.core.access import Role
from models.core.erasure import Person, erase_person, export_person
from models.core.quotas import Tier
from models.core.webhooks import WebhookEvent
from models.orgs import Organization
from tests.api.conftest import PASSWORD, Caller, org_member, post
from tests.conftest import org_of
from web import create_app as create_api
from workers.billing import prices
from workers.core.setup import Platform
from workers.core.webhooks import process_event

KEY = "sk_test_backline"


@pytest.fixture()
def stripe_fake() -> Iterator[tuple[StripeFake, Served]]:
    fake = create_app(send=False)
    served = serve(fake)
    yield fake, served
    served.stop()


@pytest.fixture()
def app(tx_platform: Platform, stripe_fake: tuple[StripeFake, Served]) -> Flask:
    settings = tx_platform.settings.replace(
        trial_days=7,
        stripe_api_key=KEY,
        stripe_api_base_url=stripe_fake[1].url,
        stripe_webhook_secrets=(FAKE_WEBHOOK_SECRET,),
    )
    return create_api(platform=dataclasses.replace(tx_platform, settings=settings))


def deliver(client: FlaskClient, app: Flask, session: Session, fake: StripeFake) -> list[int]:
    """Post what the fake sent to the webhook endpoint, then process each stored event as
    the worker would; the endpoint's status codes."""
    codes = []
    for body, headers in fake.sent:
        codes.append(client.post("/api/v1/webhooks/stripe", data=body, headers=headers).status_code)
    fake.sent.clear()
    settings = app.extensions["backline"].settings
    for event_id in session.scalars(select(WebhookEvent.id).order_by(WebhookEvent.received_at)):
        process_event(session=session, event_id=event_id, settings=settings)
    session.commit()
    return codes


def usage(client: FlaskClient, who: Caller, org_id: uuid.UUID) -> dict[str, Any]:
    answer = client.get(f"/api/v1/orgs/{org_id}/usage", headers=who.headers)
    assert answer.status_code == 200
    return answer.json  # type: ignore[no-any-return]


def test_a_new_organization_starts_a_seven_day_creator_trial(
    client: FlaskClient, alice: Caller
) -> None:
    created = client.post("/api/v1/orgs", json={"name": "Label"}, headers=alice.headers)
    assert created.status_code == 201
    shown = usage(client, alice, uuid.UUID(created.json["id"]))
    assert (shown["tier"], shown["trial_days_left"], shown["jobs_per_day"]["limit"]) == (
        "creator",
        7,
        1000,
    )
    ends = datetime.fromisoformat(shown["trial_ends_at"])
    assert timedelta(days=6, hours=23) < ends - datetime.now(UTC) <= timedelta(days=7)


def test_registering_starts_the_trial_too(client: FlaskClient, session: Session) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    assert post(client, "register", {"email": email, "password": PASSWORD}).status_code == 202
    user_id = session.scalar(select(User.id).where(User.email == email))
    assert user_id is not None
    org = session.get_one(Organization, org_of(session, user_id))
    assert org.tier == Tier.CREATOR and org.trial_ends_at is not None


def test_an_expired_trial_returns_to_free_unless_it_pays(
    client: FlaskClient, session: Session, alice: Caller
) -> None:
    ended, still = (
        client.post("/api/v1/orgs", json={"name": n}, headers=alice.headers).json["id"]
        for n in ("Ended", "Still")
    )
    session.get_one(Organization, uuid.UUID(ended)).trial_ends_at = datetime.now(UTC) - timedelta(
        minutes=1
    )
    session.flush()
    assert billing.expire_trials(session=session) == 1
    session.commit()
    assert (
        usage(client, alice, uuid.UUID(ended))["tier"],
        usage(client, alice, uuid.UUID(ended))["trial_days_left"],
    ) == ("free", 0)
    assert usage(client, alice, uuid.UUID(still))["tier"] == "creator"
    assert billing.expire_trials(session=session) == 0  # nothing twice


def test_a_paid_checkout_sets_the_tier_and_later_events_follow_the_subscription(
    app: Flask,
    client: FlaskClient,
    session: Session,
    alice: Caller,
    stripe_fake: tuple[StripeFake, Served],
) -> None:
    fake, served = stripe_fake
    org_id = org_of(session, alice.user.id)
    answer = client.post(
        f"/api/v1/orgs/{org_id}/billing/checkout",
        json={"tier": "professional"},
        headers=alice.headers,
    )
    assert answer.status_code == 201, answer.json
    checkout = answer.json
    assert checkout["url"].startswith(served.url) and checkout["paid"] is False
    item = f"/api/v1/orgs/{org_id}/billing/checkouts/{checkout['id']}"

    # The buyer pays on Stripe's page; Stripe sends its signed events.
    paid = httpx.post(checkout["url"], follow_redirects=False)
    assert paid.status_code == 303
    assert paid.headers["Location"].endswith(f"?checkout={checkout['id']}")
    assert usage(client, alice, org_id)["tier"] == "free"  # nothing until the events
    assert deliver(client, app, session, fake) == [202, 202]
    assert client.get(item, headers=alice.headers).json["paid"] is True
    assert usage(client, alice, org_id)["tier"] == "professional"

    state = client.get(f"/api/v1/orgs/{org_id}/billing", headers=alice.headers).json
    assert state["subscription"]["status"] == "active"
    assert {"tier": "creator", "monthly_usd": "29.00"} in state["prices"]
    sub_id = session.get_one(billing.BillingSubscription, org_id).stripe_subscription_id
    auth = {"Authorization": f"Bearer {KEY}"}

    # A downgrade in Stripe's portal, then a cancellation.
    httpx.post(
        f"{served.url}/v1/subscriptions/{sub_id}",
        data={"items[0][price]": "price_creator"},
        headers=auth,
    )
    sent = list(fake.sent)
    assert deliver(client, app, session, fake) == [202]
    assert usage(client, alice, org_id)["tier"] == "creator"
    # Stripe delivers it again: acknowledged, not applied twice.
    fake.sent.extend(sent)
    assert deliver(client, app, session, fake) == [200]
    httpx.delete(f"{served.url}/v1/subscriptions/{sub_id}", headers=auth)
    assert deliver(client, app, session, fake) == [202]
    assert usage(client, alice, org_id)["tier"] == "free"


def test_a_forged_or_unsigned_event_changes_nothing(
    client: FlaskClient, session: Session, alice: Caller
) -> None:
    org_id = org_of(session, alice.user.id)
    event = {
        "id": "evt_forged",
        "type": "customer.subscription.updated",
        "created": 2_000_000_000,
        "data": {
            "object": {
                "id": "sub_x",
                "status": "active",
                "metadata": {"org_id": str(org_id), "tier": "professional"},
            }
        },
    }
    body = json.dumps(event).encode()
    for headers in ({}, {"Stripe-Signature": sign(body, "whsec_guessed")}):
        assert client.post("/api/v1/webhooks/stripe", data=body, headers=headers).status_code == 401
    assert usage(client, alice, org_id)["tier"] == "free"


def test_an_older_subscription_event_does_not_undo_a_newer_one(
    session: Session, alice: Caller
) -> None:
    org_id = org_of(session, alice.user.id)

    def event(status: str, created: int) -> dict[str, Any]:
        obj = {"id": "sub_1", "status": status, "metadata": {"org_id": str(org_id)}}
        obj["items"] = {"data": [{"price": {"id": "price_professional"}}]}
        return {
            "type": "customer.subscription.updated",
            "created": created,
            "data": {"object": obj},
        }

    table = prices(Settings())
    billing.subscription_changed(session=session, event=event("active", 200), prices=table)
    billing.subscription_changed(session=session, event=event("unpaid", 100), prices=table)
    assert session.get_one(Organization, org_id).tier == Tier.PROFESSIONAL


def test_checkouts_are_for_admins_and_their_own_organization(
    client: FlaskClient, tx_platform: Platform, session: Session, alice: Caller, bob: Caller
) -> None:
    org_id = org_of(session, alice.user.id)
    member = org_member(tx_platform, session, org_id, Role.MEMBER)
    path = f"/api/v1/orgs/{org_id}/billing/checkout"
    refused = client.post(path, json={"tier": "creator"}, headers=member.headers)
    assert refused.status_code == 403
    free = client.post(path, json={"tier": "free"}, headers=alice.headers)
    assert free.status_code == 422
    mine = client.post(path, json={"tier": "creator"}, headers=alice.headers).json["id"]
    other = client.get(f"/api/v1/orgs/{org_id}/billing/checkouts/{mine}", headers=bob.headers)
    assert other.status_code == 404
    bobs_org = org_of(session, bob.user.id)
    crossed = client.get(f"/api/v1/orgs/{bobs_org}/billing/checkouts/{mine}", headers=bob.headers)
    assert crossed.status_code == 404


def test_an_unreachable_stripe_is_a_503_to_retry_and_records_nothing(
    tx_platform: Platform, session: Session, alice: Caller
) -> None:
    settings = tx_platform.settings.replace(stripe_api_base_url="http://127.0.0.1:9")
    client = create_api(platform=dataclasses.replace(tx_platform, settings=settings)).test_client()
    org_id = org_of(session, alice.user.id)
    answer = client.post(
        f"/api/v1/orgs/{org_id}/billing/checkout", json={"tier": "creator"}, headers=alice.headers
    )
    assert (answer.status_code, answer.json["code"]) == (503, "payment_provider_unavailable")
    assert answer.headers["Retry-After"] == "5"
    assert session.scalars(select(billing.BillingCheckout)).all() == []


def test_a_leaving_person_is_forgotten_by_their_organizations_checkouts(
    client: FlaskClient, session: Session, alice: Caller
) -> None:
    org_id = org_of(session, alice.user.id)
    path = f"/api/v1/orgs/{org_id}/billing/checkout"
    made = client.post(path, json={"tier": "creator"}, headers=alice.headers).json["id"]
    person = Person(alice.user.id, alice.user.email)
    assert [c["id"] for c in export_person(session=session, person=person)["billing"]] == [made]
    erase_person(session=session, person=person)
    checkout = session.get_one(billing.BillingCheckout, made)
    session.refresh(checkout)
    assert (checkout.created_by, checkout.org_id) == (None, org_id)
