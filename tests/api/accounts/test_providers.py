"""Sign in with Google, end to end against the local OpenID Connect fake (discovery, JWKS,
signed ID tokens, PKCE), through Authlib and joserfc; and the takeover cases refused."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from devstack.fakes import serve
from devstack.fakes.oidc import CLIENT_ID, CLIENT_SECRET
from devstack.fakes.oidc import create_app as fake_google
from models.accounts.identities import ProviderIdentity
from models.core.quotas import Tier
from models.mail.tables import Enrolment
from models.orgs import Organization, primary_org_id
from tests.api.conftest import PASSWORD, caller
from tests.conftest import make_user
from web import create_app
from workers.core.setup import Platform


@pytest.fixture()
def client(tx_platform: Platform) -> Iterator[FlaskClient]:
    served = serve(fake_google())
    settings = tx_platform.settings.replace(
        google_client_id=CLIENT_ID,
        google_client_secret=CLIENT_SECRET,
        google_issuer_url=served.url,
    )
    yield create_app(platform=dataclasses.replace(tx_platform, settings=settings)).test_client()
    served.stop()


def authorize(client: FlaskClient, email: str, *, headers: Any = None, **fake: str) -> dict:
    """Start a sign-in, and let the provider sign `email` in: the code and state it returns."""
    path = "link" if headers else "start"
    started = client.post(f"/api/v1/auth/providers/google/{path}", json={}, headers=headers)
    assert started.status_code == 200, started.json
    url = started.json["authorization_url"]
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    answer = httpx2.get(f"{url}&{urlencode({'login_hint': email, **fake})}")
    assert answer.status_code == 302, answer.text
    back = parse_qs(urlsplit(answer.headers["Location"]).query)
    return {"code": back["code"][0], "state": back["state"][0]}


def callback(client: FlaskClient, params: dict) -> Any:
    return client.get(f"/api/v1/auth/providers/google/callback?{urlencode(params)}")


def sign_in(client: FlaskClient, email: str, **fake: str) -> Any:
    return callback(client, authorize(client, email, **fake))


def me(client: FlaskClient, answer: Any) -> dict:
    headers = {"Authorization": f"Bearer {answer.json['access_token']}"}
    return client.get("/api/v1/auth/me", headers=headers).json  # type: ignore[no-any-return]


def test_a_new_google_user_gets_an_account_and_comes_back_to_it(client: FlaskClient) -> None:
    first = sign_in(client, "new@gmail.example")

    assert first.status_code == 200, first.json
    account = me(client, first)
    assert account["email"] == "new@gmail.example" and account["email_verified"] is True
    again = sign_in(client, "new@gmail.example")
    assert me(client, again)["id"] == account["id"]
    # The same tokens as a password login: the refresh token rotates.
    refreshed = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": again.json["refresh_token"]}
    )
    assert refreshed.status_code == 200


def test_an_account_made_by_a_provider_starts_its_trial_once(
    tx_platform: Platform, session: Session
) -> None:
    served = serve(fake_google())
    settings = tx_platform.settings.replace(
        google_client_id=CLIENT_ID,
        google_client_secret=CLIENT_SECRET,
        google_issuer_url=served.url,
        trial_days=7,
    )
    client = create_app(platform=dataclasses.replace(tx_platform, settings=settings)).test_client()
    try:
        first = sign_in(client, "trial@gmail.example")
        org = session.get_one(
            Organization,
            primary_org_id(session=session, user_id=uuid.UUID(me(client, first)["id"])),
        )
        assert org.tier == Tier.CREATOR and org.trial_ends_at is not None
        # The provider confirmed the address: the trial's mails start at once.
        enrolled = session.scalars(
            select(Enrolment).where(Enrolment.email == "trial@gmail.example")
        ).all()
        assert [(e.org_id, e.status) for e in enrolled] == [(org.id, "active")]
        ends = org.trial_ends_at
        # Coming back is a sign-in, not a new account: the trial is not started again.
        sign_in(client, "trial@gmail.example")
        session.refresh(org)
        assert org.trial_ends_at == ends
    finally:
        served.stop()


def test_an_existing_address_is_linked_only_with_the_accounts_password(
    client: FlaskClient, session: Session
) -> None:
    owner = make_user(session, email="owner@example.com")
    session.commit()

    held = sign_in(client, "owner@example.com")
    assert held.status_code == 409 and held.json["code"] == "link_needs_password"
    token = held.json["details"]["link_token"]
    wrong = client.post(
        "/api/v1/auth/providers/confirm-link",
        json={"link_token": token, "password": "not the password"},
    )
    assert wrong.status_code == 403
    assert session.scalars(select(ProviderIdentity)).all() == []

    held = sign_in(client, "owner@example.com")  # the wrong guess spent that token
    linked = client.post(
        "/api/v1/auth/providers/confirm-link",
        json={"link_token": held.json["details"]["link_token"], "password": PASSWORD},
    )
    assert linked.status_code == 200, linked.json
    assert me(client, linked)["id"] == str(owner.id)
    assert me(client, sign_in(client, "owner@example.com"))["id"] == str(owner.id)


def test_an_unverified_provider_address_never_reaches_an_account(
    client: FlaskClient, session: Session
) -> None:
    make_user(session, email="victim@example.com")
    session.commit()

    answer = sign_in(client, "victim@example.com", fake_email_verified="false")

    assert answer.status_code == 403
    assert answer.json["code"] == "provider_address_unverified"
    assert "link_token" not in answer.json["details"]
    assert session.scalars(select(ProviderIdentity)).all() == []


def test_a_mismatched_state_is_refused(client: FlaskClient) -> None:
    params = authorize(client, "someone@example.com")

    answer = callback(client, {**params, "state": "a-state-we-never-sent"})

    assert answer.status_code == 401


def test_a_replayed_code_is_refused(client: FlaskClient) -> None:
    params = authorize(client, "replay@example.com")
    assert callback(client, params).status_code == 200

    again = callback(client, params)  # the same state and code
    assert again.status_code == 401
    # With a fresh state of our own, the provider refuses the spent code itself.
    fresh = authorize(client, "replay@example.com")
    answer = callback(client, {**fresh, "code": params["code"]})
    assert answer.status_code == 401 and answer.json["code"] == "provider_sign_in_failed"


def test_an_id_token_minted_for_another_client_is_refused(
    client: FlaskClient, session: Session
) -> None:
    answer = sign_in(client, "other@example.com", fake_audience="someone-elses-client")

    assert answer.status_code == 401 and answer.json["code"] == "provider_sign_in_failed"
    assert session.scalars(select(ProviderIdentity)).all() == []


def test_an_id_token_with_another_sign_ins_nonce_is_refused(client: FlaskClient) -> None:
    answer = sign_in(client, "nonce@example.com", fake_nonce="from-another-sign-in")

    assert answer.status_code == 401 and answer.json["code"] == "provider_sign_in_failed"


def test_unlinking_never_removes_the_last_way_in(
    client: FlaskClient, session: Session, tx_platform: Platform
) -> None:
    only_google = sign_in(client, "google-only@example.com")
    headers = {"Authorization": f"Bearer {only_google.json['access_token']}"}
    (identity,) = client.get("/api/v1/auth/identities", headers=headers).json

    refused = client.delete(f"/api/v1/auth/identities/{identity['id']}", headers=headers)
    assert refused.status_code == 409

    # A password account links Google while signed in, and may unlink it again.
    alice = caller(tx_platform, session)
    linked = callback(
        client, authorize(client, "alice-at-google@example.com", headers=alice.headers)
    )
    assert linked.status_code == 200, linked.json
    (mine,) = client.get("/api/v1/auth/identities", headers=alice.headers).json
    assert mine["email"] == "alice-at-google@example.com"
    # Someone else's identity is not found; one's own goes.
    assert (
        client.delete(
            f"/api/v1/auth/identities/{identity['id']}", headers=alice.headers
        ).status_code
        == 404
    )
    assert (
        client.delete(f"/api/v1/auth/identities/{mine['id']}", headers=alice.headers).status_code
        == 204
    )


def test_an_account_without_password_leaves_with_a_fresh_provider_login(
    client: FlaskClient, session: Session
) -> None:
    older = sign_in(client, "leaves@example.com")
    session.execute(text("UPDATE auth_sessions SET created_at = created_at - interval '1 hour'"))
    session.commit()

    stale = client.delete(
        "/api/v1/auth/me", json={"delete_organizations": True}, headers=bearer(older)
    )
    assert stale.status_code == 403 and stale.json["code"] == "fresh_login_needed"

    fresh = sign_in(client, "leaves@example.com")
    gone_id = uuid.UUID(me(client, fresh)["id"])
    gone = client.delete(
        "/api/v1/auth/me", json={"delete_organizations": True}, headers=bearer(fresh)
    )
    assert gone.status_code == 204
    assert session.scalars(select(ProviderIdentity)).all() == []
    # Signing in with the provider again makes a new, empty account.
    again = sign_in(client, "leaves@example.com")
    assert again.status_code == 200
    assert session.scalar(select(ProviderIdentity.user_id)) != gone_id


def bearer(answer: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {answer.json['access_token']}"}
