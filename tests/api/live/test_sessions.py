"""Stream sessions over HTTP: start, status, end; one active per creator and platform; the
tier's cap on active sessions holds against starts at once; another organisation's session is
a 404."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from models.core.erasure import Person, erase_person, export_person
from models.core.quotas import Tier
from models.live import sessions
from models.live.tables import LiveSession
from tests.api.conftest import Caller
from tests.api.live.conftest import LIVE, on_tier, start
from tests.conftest import access_token, make_user, org_of
from web import create_app
from workers.core.setup import Platform


def test_a_session_starts_reads_back_and_ends(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice, title="Speedrun night")
    assert live["status"] == "active"
    assert live["platform"] == "twitch"
    assert live["last_seq"] == 0

    read = client.get(f"{LIVE}/sessions/{live['id']}", headers=alice.headers)
    assert read.status_code == 200
    assert read.json["title"] == "Speedrun night"
    listed = client.get(f"{LIVE}/sessions?status=active", headers=alice.headers).json
    assert [s["id"] for s in listed["items"]] == [live["id"]]

    ended = client.post(f"{LIVE}/sessions/{live['id']}/end", headers=alice.headers)
    assert ended.status_code == 200
    assert ended.json["status"] == "ended"
    assert ended.json["ended_reason"] == "ended"
    assert ended.json["last_seq"] == 1  # session_ended, for its overlays
    again = client.post(f"{LIVE}/sessions/{live['id']}/end", headers=alice.headers)
    assert again.json["ended_at"] == ended.json["ended_at"]


def test_one_active_session_per_creator_and_platform(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.PROFESSIONAL)
    first = start(client, alice, "twitch")
    second = client.post(
        f"{LIVE}/sessions", json={"platform": "twitch", "title": "again"}, headers=alice.headers
    )
    assert second.status_code == 409
    assert second.json["details"]["session_id"] == first["id"]
    start(client, alice, "youtube")  # another platform: fine

    client.post(f"{LIVE}/sessions/{first['id']}/end", headers=alice.headers)
    assert start(client, alice, "twitch")["id"] != first["id"]


def test_the_free_tier_has_one_active_session_and_says_which_tier_has_more(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.FREE)
    start(client, alice, "twitch")
    refused = client.post(
        f"{LIVE}/sessions", json={"platform": "kick", "title": "x"}, headers=alice.headers
    )
    assert refused.status_code == 403
    assert refused.json["code"] == "tier_required"
    assert refused.json["details"]["tier_required"] == "creator"
    assert refused.json["details"]["tier"] == "free"
    assert refused.json["details"]["feature"] == "concurrent_sessions"


def test_another_organizations_session_is_not_found(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    base = f"{LIVE}/sessions/{live['id']}"
    for method, path in (
        ("get", base),
        ("post", f"{base}/end"),
        ("get", f"{base}/events"),
        ("get", f"{base}/overlays"),
        ("post", f"{base}/overlays"),
        ("get", f"{base}/stream"),
    ):
        answer = getattr(client, method)(
            path, headers=bob.headers, json={} if method == "post" else None
        )
        assert answer.status_code == 404, (method, path, answer.json)
    effect = client.get(f"{LIVE}/effects", headers=bob.headers).json["items"][0]["id"]
    trig = client.post(f"{base}/effects", json={"effect_id": effect}, headers=bob.headers)
    assert trig.status_code == 404
    assert client.get(base, headers=alice.headers).json["status"] == "active"


def test_bad_input_is_a_422(client: FlaskClient, alice: Caller) -> None:
    for body in (
        {"platform": "myspace", "title": "x"},
        {"platform": "twitch", "title": ""},
        {"platform": "twitch", "title": "x\u0000"},
    ):
        answer = client.post(f"{LIVE}/sessions", json=body, headers=alice.headers)
        assert answer.status_code == 422, body


def test_erasing_an_account_ends_its_sessions_and_keeps_them_without_its_name(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice, title="Last stream")
    person = Person(alice.user.id, alice.user.email)
    exported = export_person(session=session, person=person)["live"]
    assert [(s["id"], s["title"]) for s in exported["stream_sessions"]] == [
        (live["id"], "Last stream")
    ]

    erase_person(session=session, person=person)

    kept = session.get_one(LiveSession, uuid.UUID(live["id"]))
    session.refresh(kept)
    assert (kept.status, kept.created_by) == ("ended", None)
    assert kept.last_seq == 1  # session_ended, for its overlays


def test_two_starts_at_once_cannot_pass_the_tiers_cap_together(
    committed_platform: Platform,
) -> None:
    """One start holds its transaction open while another comes over HTTP: the second waits
    for the first and is refused, rather than both counting no active session."""
    with committed_platform.sessions() as db:
        user = make_user(db)
        org_id = org_of(db, user.id)
        db.execute(text("UPDATE organizations SET tier = 'free' WHERE id = :id"), {"id": org_id})
        db.commit()
        headers = {"Authorization": f"Bearer {access_token(committed_platform, db, user)}"}
    client = create_app(platform=committed_platform).test_client()
    first_started = threading.Event()

    def first() -> None:
        with committed_platform.sessions.begin() as db:
            sessions.start_session(
                session=db,
                org_id=org_id,
                user_id=user.id,
                platform="twitch",
                title="first",
                brand_kit_id=None,
            )
            first_started.set()
            time.sleep(1.0)  # the second start comes meanwhile

    def second() -> Any:
        first_started.wait(5)
        return client.post(
            f"{LIVE}/sessions", json={"platform": "youtube", "title": "second"}, headers=headers
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        held, answer = pool.submit(first), pool.submit(second)
        held.result()
        refused = answer.result()
    assert refused.status_code == 403, refused.json
    assert refused.json["details"]["feature"] == "concurrent_sessions"
    listed = client.get(f"{LIVE}/sessions?status=active", headers=headers).json["items"]
    assert [s["title"] for s in listed] == ["first"]


def test_metrics_recorded_in_a_session_show_in_its_figures_and_only_the_owners_session_takes_them(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    points = [
        {"metric": "viewers", "value": 120, "platform": "twitch"},
        {"metric": "viewers", "value": 180, "platform": "twitch"},
        {"metric": "chat_messages", "value": 42, "platform": "twitch"},
    ]
    recorded = client.post(
        "/api/v1/metrics",
        json={"points": points, "live_session_id": live["id"]},
        headers=alice.headers,
    )
    assert recorded.status_code == 201, recorded.json
    # One point, without a batch around it, names the session the same way.
    single = {"metric": "chat_messages", "value": 8, "platform": "twitch"}
    one = client.post(
        "/api/v1/metrics", json={**single, "live_session_id": live["id"]}, headers=alice.headers
    )
    assert one.status_code == 201, one.json
    # Points of no session are not the session's.
    client.post("/api/v1/metrics", json=single, headers=alice.headers)

    figures = client.get(f"{LIVE}/sessions/{live['id']}", headers=alice.headers).json["metrics"]
    assert {name: (m["count"], m["sum"]) for name, m in figures.items()} == {
        "viewers": (2, 300),
        "chat_messages": (2, 50),
    }
    assert figures["viewers"]["last_value"] in (120, 180)

    # Bob cannot write into Alice's session: a 404, and nothing of his is stored.
    theirs = client.post(
        "/api/v1/metrics",
        json={"points": points, "live_session_id": live["id"]},
        headers=bob.headers,
    )
    assert theirs.status_code == 404
    assert client.get("/api/v1/metrics", headers=bob.headers).json["items"] == []
