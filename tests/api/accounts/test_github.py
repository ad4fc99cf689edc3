"""Sign in with GitHub, end to end against the local fake (OAuth 2.0 with PKCE, errors sent
with HTTP 200 as GitHub does, /user and /user/emails), through Authlib."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from devstack.fakes import serve
from devstack.fakes.github import CLIENT_ID, CLIENT_SECRET
from devstack.fakes.github import create_app as fake_github
from models.accounts.identities import ProviderIdentity
from tests.conftest import make_user
from web import create_app
from workers.core.setup import Platform


@pytest.fixture()
def client(tx_platform: Platform) -> Iterator[FlaskClient]:
    served = serve(fake_github())
    settings = tx_platform.settings.replace(
        github_client_id=CLIENT_ID, github_client_secret=CLIENT_SECRET, github_base_url=served.url
    )
    yield create_app(platform=dataclasses.replace(tx_platform, settings=settings)).test_client()
    served.stop()


def authorize(client: FlaskClient, email: str, **fake: str) -> dict[str, str]:
    started = client.post("/api/v1/auth/providers/github/start", json={})
    assert started.status_code == 200, started.json
    url = started.json["authorization_url"]
    assert parse_qs(urlsplit(url).query)["code_challenge_method"] == ["S256"]
    answer = httpx2.get(f"{url}&{urlencode({'login': email, **fake})}")
    assert answer.status_code == 302, answer.text
    back = parse_qs(urlsplit(answer.headers["Location"]).query)
    return {"code": back["code"][0], "state": back["state"][0]}


def callback(client: FlaskClient, params: dict[str, str]) -> Any:
    return client.get(f"/api/v1/auth/providers/github/callback?{urlencode(params)}")


def test_a_github_user_gets_an_account_and_comes_back_to_it(client: FlaskClient) -> None:
    first = callback(client, authorize(client, "octo@example.com"))
    assert first.status_code == 200, first.json
    headers = {"Authorization": f"Bearer {first.json['access_token']}"}
    account = client.get("/api/v1/auth/me", headers=headers).json
    assert account["email"] == "octo@example.com" and account["email_verified"] is True

    again = callback(client, authorize(client, "octo@example.com"))
    headers = {"Authorization": f"Bearer {again.json['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=headers).json["id"] == account["id"]
    (identity,) = client.get("/api/v1/auth/identities", headers=headers).json
    assert identity["provider"] == "github"


def test_an_unverified_github_address_reaches_no_account(
    client: FlaskClient, session: Session
) -> None:
    make_user(session, email="taken@example.com")
    session.commit()

    answer = callback(client, authorize(client, "taken@example.com", fake_email_verified="false"))

    assert answer.status_code == 403 and answer.json["code"] == "provider_address_unverified"
    assert session.scalars(select(ProviderIdentity)).all() == []


def test_a_spent_github_code_is_refused(client: FlaskClient) -> None:
    params = authorize(client, "twice@example.com")
    assert callback(client, params).status_code == 200

    fresh = authorize(client, "twice@example.com")
    answer = callback(client, {**fresh, "code": params["code"]})  # GitHub: 200 with an error

    assert answer.status_code == 401 and answer.json["code"] == "provider_sign_in_failed"
