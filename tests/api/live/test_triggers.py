"""Triggering effects over HTTP: a numbered log, idempotent with an Idempotency-Key, an
overlay queue that never overlaps and holds a burst up to its cap, brand kit categories."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from models.core.quotas import Tier
from tests.api.conftest import Caller
from tests.api.live.conftest import LIVE, on_tier, start, trigger
from web import create_app
from workers.core.setup import Platform


@pytest.fixture()
def app(tx_platform: Platform) -> Flask:
    settings = tx_platform.settings.replace(live_queue_cap=3)
    return create_app(platform=dataclasses.replace(tx_platform, settings=settings))


def test_a_trigger_is_the_next_entry_of_the_sessions_log(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    first = trigger(client, alice, live["id"], "follower-alert", message="Thanks, @ada!")
    assert first.status_code == 201, first.json
    assert first.json["seq"] == 1
    assert first.json["type"] == "effect"
    assert first.json["effect"]["name"] == "New follower"
    assert first.json["message"] == "Thanks, @ada!"
    second = trigger(client, alice, live["id"], "hearts")
    assert second.json["seq"] == 2

    entries = client.get(f"{LIVE}/sessions/{live['id']}/events?after=1", headers=alice.headers)
    assert [e["seq"] for e in entries.json["items"]] == [2]
    read = client.get(f"{LIVE}/sessions/{live['id']}", headers=alice.headers).json
    assert read["triggers"] == 2
    assert read["last_seq"] == 2


def test_the_same_idempotency_key_gives_the_same_entry_and_plays_once(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    first = trigger(client, alice, live["id"], "confetti", key="sub-4711")
    again = trigger(client, alice, live["id"], "confetti", key="sub-4711")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json == first.json

    other = trigger(client, alice, live["id"], "hearts", key="sub-4711")
    assert other.status_code == 409  # the key was used for another trigger
    log = client.get(f"{LIVE}/sessions/{live['id']}/events", headers=alice.headers).json
    assert [e["seq"] for e in log["items"]] == [1]
    assert client.get(f"{LIVE}/sessions/{live['id']}", headers=alice.headers).json["triggers"] == 1


def test_queued_effects_never_overlap_and_a_burst_past_the_cap_is_refused(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    played = [trigger(client, alice, live["id"], "snow").json for _ in range(3)]  # 8 s each
    for before, after in zip(played, played[1:], strict=False):
        assert after["starts_at"] == before["ends_at"]
        length = datetime.fromisoformat(after["ends_at"]) - datetime.fromisoformat(
            after["starts_at"]
        )
        assert length.total_seconds() == 8

    refused = trigger(client, alice, live["id"], "hearts")
    assert refused.status_code == 429
    assert refused.json["code"] == "queue_full"
    assert refused.json["details"]["queue_cap"] == 3
    assert 1 <= int(refused.headers["Retry-After"]) <= 8
    read = client.get(f"{LIVE}/sessions/{live['id']}", headers=alice.headers).json
    assert read["queue_ends_at"] == played[-1]["ends_at"]


def test_an_ended_session_takes_no_trigger(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    client.post(f"{LIVE}/sessions/{live['id']}/end", headers=alice.headers)
    assert trigger(client, alice, live["id"]).status_code == 409


def test_a_trigger_outside_the_brand_kits_categories_is_refused(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.PROFESSIONAL)
    kit = client.post(
        f"{LIVE}/brand-kits",
        json={
            "name": "Cosy",
            "palette": ["#1A2B3C", "#ffffff"],
            "typography": {"heading_font": "Inter", "body_font": "Inter"},
            "motion_intensity": 2,
            "allowed_categories": ["alert", "reaction"],
        },
        headers=alice.headers,
    )
    assert kit.status_code == 201, kit.json
    live = start(client, alice, brand_kit_id=kit.json["id"])

    refused = trigger(client, alice, live["id"], "confetti")
    assert refused.status_code == 422
    assert refused.json["code"] == "category_not_allowed"
    assert refused.json["details"]["category"] == "celebration"
    assert refused.json["details"]["allowed_categories"] == ["alert", "reaction"]

    played = trigger(client, alice, live["id"], "follower-alert")
    assert played.status_code == 201
    assert played.json["brand"]["palette"] == ["#1A2B3C", "#ffffff"]
    assert played.json["brand"]["motion_intensity"] == 2


def test_a_bad_trigger_is_a_4xx(client: FlaskClient, alice: Caller, session: Session) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    path = f"{LIVE}/sessions/{live['id']}/effects"
    unknown = client.post(
        path, json={"effect_id": "00000000-0000-0000-0000-000000000000"}, headers=alice.headers
    )
    assert unknown.status_code == 404
    for key in ("", "é", "x" * 201):
        answer = client.post(
            path,
            json={"effect_id": unknown.json["details"]["effect_id"]},
            headers={**alice.headers, "Idempotency-Key": key},
        )
        assert answer.status_code in (404, 422), key
