"""The public page and double opt-in sign-up: a mail with a token, the fan added on
confirmation only; bots (honeypot, too fast, forged token) answered alike and ignored;
limits per IP and per artist."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.api.conftest import Caller, mailed_token, mails_to
from web import create_app
from workers.core.setup import Platform

PAGE = {
    "slug": "the-band",
    "name": "The Band",
    "bio": "Loud.",
    "links": [{"label": "Shop", "url": "https://shop.example.com"}],
}


def app_with(tx_platform: Platform, tmp_path: Path, **overrides: Any) -> Flask:
    overrides = {"fan_signup_min_fill_s": 0.0, **overrides}
    settings = tx_platform.settings.replace(storage_url=str(tmp_path / "storage"), **overrides)
    return create_app(platform=dataclasses.replace(tx_platform, settings=settings))


@pytest.fixture()
def app(tx_platform: Platform, tmp_path: Path) -> Flask:
    return app_with(tx_platform, tmp_path)


@pytest.fixture()
def page(client: FlaskClient, alice: Caller) -> dict[str, Any]:
    answer = client.put("/api/v1/fans/page", json=PAGE, headers=alice.headers)
    assert answer.status_code == 200, answer.json
    return answer.json  # type: ignore[no-any-return]


def sign_up(client: FlaskClient, email: str, ip: str = "127.0.0.1", **fields: Any) -> Any:
    token = client.get("/api/v1/public/artists/the-band").json["form_token"]
    body = {"email": email, "consent": True, "form_token": token, **fields}
    return client.post(
        "/api/v1/public/artists/the-band/fans", json=body, environ_base={"REMOTE_ADDR": ip}
    )


def fans_of(client: FlaskClient, who: Caller) -> list[dict[str, Any]]:
    return client.get("/api/v1/fans", headers=who.headers).json["items"]  # type: ignore[no-any-return]


def test_the_public_page_shows_what_the_artist_set(client: FlaskClient, page: Any) -> None:
    public = client.get("/api/v1/public/artists/the-band")

    assert public.status_code == 200
    assert public.json["name"] == "The Band"
    assert public.json["links"] == PAGE["links"]
    assert public.json["releases"] == []
    assert public.json["form_token"]
    assert client.get("/api/v1/public/artists/nobody-here").status_code == 404


def test_a_slug_belongs_to_one_artist(client: FlaskClient, page: Any, bob: Caller) -> None:
    taken = client.put("/api/v1/fans/page", json={**PAGE, "name": "Impostor"}, headers=bob.headers)
    bad = client.put("/api/v1/fans/page", json={**PAGE, "slug": "Not A Slug"}, headers=bob.headers)

    assert taken.status_code == 409
    assert bad.status_code == 422


def test_a_fan_counts_only_once_they_confirm_from_the_mail(
    client: FlaskClient, session: Session, alice: Caller, page: Any
) -> None:
    answer = sign_up(client, "Fan@Example.com", name="A Fan", country="SE")

    assert answer.status_code == 202
    assert fans_of(client, alice) == []
    [mail] = mails_to(session, "fan@example.com")
    assert "The Band" in mail.params["subject"]

    confirmed = client.post("/api/v1/public/fans/confirm", json={"token": mailed_token(mail)})
    again = client.post("/api/v1/public/fans/confirm", json={"token": mailed_token(mail)})

    assert confirmed.status_code == 200
    assert confirmed.json == {"artist": "The Band", "slug": "the-band"}
    [fan] = fans_of(client, alice)
    assert (fan["email"], fan["name"], fan["country"]) == ("fan@example.com", "A Fan", "SE")
    assert (fan["source"], fan["consent"]) == ("landing_page", True)
    assert again.status_code == 422


def test_signing_up_needs_consent(client: FlaskClient, page: Any) -> None:
    answer = sign_up(client, "fan@example.com", consent=False)

    assert answer.status_code == 422
    assert "consent" in answer.json["details"]["fields"]


def test_bots_are_answered_alike_and_nothing_is_kept_or_mailed(
    tx_platform: Platform, tmp_path: Path, session: Session, alice: Caller
) -> None:
    client = app_with(tx_platform, tmp_path, fan_signup_min_fill_s=60.0).test_client()
    client.put("/api/v1/fans/page", json=PAGE, headers=alice.headers)
    token = client.get("/api/v1/public/artists/the-band").json["form_token"]
    base = {"consent": True, "form_token": token}

    too_fast = client.post(
        "/api/v1/public/artists/the-band/fans", json={**base, "email": "fast@example.com"}
    )
    forged = client.post(
        "/api/v1/public/artists/the-band/fans",
        json={**base, "email": "forged@example.com", "form_token": token[:-4] + "AAAA"},
    )

    assert too_fast.status_code == forged.status_code == 202
    assert too_fast.json == forged.json
    assert mails_to(session, "fast@example.com") == []
    assert mails_to(session, "forged@example.com") == []


def test_a_filled_honeypot_is_ignored(client: FlaskClient, session: Session, page: Any) -> None:
    answer = sign_up(client, "bot@example.com", website="http://spam.example")

    assert answer.status_code == 202
    assert mails_to(session, "bot@example.com") == []


def test_an_address_already_on_the_list_is_not_mailed_again(
    client: FlaskClient, session: Session, alice: Caller, page: Any
) -> None:
    client.post(
        "/api/v1/fans", json={"name": "Known", "email": "known@example.com"}, headers=alice.headers
    )

    assert sign_up(client, "known@example.com").status_code == 202
    assert mails_to(session, "known@example.com") == []


def test_sign_ups_are_limited_per_ip(tx_platform: Platform, tmp_path: Path, alice: Caller) -> None:
    client = app_with(tx_platform, tmp_path, rate_limit_fan_signup="2/hour").test_client()
    client.put("/api/v1/fans/page", json=PAGE, headers=alice.headers)

    answers = [sign_up(client, f"f{n}@example.com").status_code for n in range(3)]

    assert answers == [202, 202, 429]


def test_sign_ups_are_limited_per_artist_whatever_the_ip(
    tx_platform: Platform, tmp_path: Path, alice: Caller
) -> None:
    client = app_with(tx_platform, tmp_path, rate_limit_fan_signup_artist="2/hour").test_client()
    client.put("/api/v1/fans/page", json=PAGE, headers=alice.headers)

    answers = [
        sign_up(client, f"f{n}@example.com", ip=f"198.51.100.{n}").status_code for n in range(3)
    ]

    assert answers == [202, 202, 429]
