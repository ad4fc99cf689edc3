"""Overlay links and live delivery over SSE: a link opens its own session's stream only, is
never valid for the API, and stops working when revoked; a dropped connection that comes
back with Last-Event-ID is sent exactly what it missed, nothing twice."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from models.core.quotas import Tier
from tests.api.conftest import Caller
from tests.api.live.conftest import LIVE, Stream, on_tier, overlay_link, start, trigger


def events_path(session_id: str, token: str) -> str:
    return f"{LIVE}/overlay/{session_id}/events?token={token}"


def test_an_overlay_is_sent_each_trigger_as_it_happens(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    link = overlay_link(client, alice, live["id"])
    assert link["token"].startswith("ovl_")
    assert link["overlay_url"].endswith(f"/live/overlay/{live['id']}?token={link['token']}")

    overlay = Stream(client, events_path(live["id"], link["token"]))
    assert overlay.status_code == 200
    assert overlay.response.mimetype == "text/event-stream"
    assert overlay.response.headers["Referrer-Policy"] == "no-referrer"
    assert overlay.take(0) == []  # connected: `retry:` and where it starts
    trigger(client, alice, live["id"], "follower-alert", message="Welcome, @ada")
    [event] = overlay.take(1)
    assert event["event"] == "effect"
    assert event["id"] == "1"
    assert event["data"]["message"] == "Welcome, @ada"
    assert event["data"]["effect"]["animation"] == "follower-alert"
    figures = client.get(f"{LIVE}/sessions/{live['id']}", headers=alice.headers).json
    assert figures["overlays_connected"] == 1
    overlay.drop()
    figures = client.get(f"{LIVE}/sessions/{live['id']}", headers=alice.headers).json
    assert figures["overlays_connected"] == 0
    assert figures["triggers"] == 1


def test_a_reconnection_with_last_event_id_gets_exactly_the_gap(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    token = overlay_link(client, alice, live["id"])["token"]
    overlay = Stream(client, events_path(live["id"], token))
    overlay.take(0)
    for name in ("confetti", "hearts"):
        trigger(client, alice, live["id"], name)
    got = overlay.take(2)
    assert [e["id"] for e in got] == ["1", "2"]
    overlay.drop()  # the connection drops; meanwhile three more are triggered

    for name in ("fireworks", "wipe", "hearts"):
        trigger(client, alice, live["id"], name)
    client.post(f"{LIVE}/sessions/{live['id']}/end", headers=alice.headers)

    back = Stream(client, events_path(live["id"], token), **{"Last-Event-ID": got[-1]["id"]})
    missed = back.rest()  # the session has ended: the stream ends after its last entry
    assert [(e["id"], e["event"]) for e in missed] == [
        ("3", "effect"),
        ("4", "effect"),
        ("5", "effect"),
        ("6", "session_ended"),
    ]
    assert [e["data"]["effect"]["animation"] for e in missed[:3]] == ["fireworks", "wipe", "hearts"]
    # With everything, the page is told to stop reconnecting.
    done = client.get(events_path(live["id"], token), headers={"Last-Event-ID": "6"})
    assert done.status_code == 204


def test_a_repeated_trigger_is_delivered_once(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    token = overlay_link(client, alice, live["id"])["token"]
    for _ in range(3):
        trigger(client, alice, live["id"], "hearts", key="gift-99")
    client.post(f"{LIVE}/sessions/{live['id']}/end", headers=alice.headers)
    everything = Stream(client, events_path(live["id"], token), **{"Last-Event-ID": "0"}).rest()
    assert [e["event"] for e in everything] == ["effect", "session_ended"]


def test_the_dashboard_stream_follows_the_log_with_a_users_token(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    trigger(client, alice, live["id"], "snow")
    client.post(f"{LIVE}/sessions/{live['id']}/end", headers=alice.headers)
    found = Stream(
        client, f"{LIVE}/sessions/{live['id']}/stream", **alice.headers, **{"Last-Event-ID": "0"}
    ).rest()
    assert [e["event"] for e in found] == ["effect", "session_ended"]
    assert client.get(f"{LIVE}/sessions/{live['id']}/stream").status_code == 401


def test_an_overlay_token_is_not_valid_for_the_api(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    token = overlay_link(client, alice, live["id"])["token"]
    as_bearer = {"Authorization": f"Bearer {token}"}
    for path in (f"{LIVE}/sessions", f"{LIVE}/sessions/{live['id']}", "/api/v1/jobs"):
        answer = client.get(path, headers=as_bearer)
        assert answer.status_code == 401, path
        assert answer.json["code"] == "authentication_failed"
    assert trigger(client, Caller(alice.user, token), live["id"]).status_code == 401


def test_an_overlay_token_opens_its_own_session_only(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    on_tier(session, bob, Tier.CREATOR)
    mine = start(client, alice, "twitch")
    other = start(client, alice, "youtube")
    bobs = start(client, bob)
    token = overlay_link(client, alice, mine["id"])["token"]
    for session_id in (other["id"], bobs["id"]):
        answer = client.get(events_path(session_id, token))
        assert answer.status_code == 401
        assert answer.json["code"] == "authentication_failed"
    for bad in ("", "ovl_", "ovl_nope", "x" * 300, "ovl_\u00e9"):
        assert client.get(events_path(mine["id"], bad)).status_code == 401, bad
    assert client.get(f"{LIVE}/overlay/{mine['id']}/events").status_code == 401


def test_a_revoked_link_ends_its_open_stream_and_is_refused_after(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    revoked = overlay_link(client, alice, live["id"])
    kept = overlay_link(client, alice, live["id"])
    open_stream = Stream(client, events_path(live["id"], revoked["token"]))
    open_stream.take(0)

    answer = client.delete(
        f"{LIVE}/sessions/{live['id']}/overlays/{revoked['id']}", headers=alice.headers
    )
    assert answer.status_code == 200
    assert answer.json["revoked_at"] is not None
    assert open_stream.rest() == []  # ended, and told nothing
    assert open_stream.ended

    refused = client.get(events_path(live["id"], revoked["token"]))
    assert refused.status_code == 401
    # The other link still works, and is not told of its sibling's revocation.
    trigger(client, alice, live["id"], "hearts")
    client.post(f"{LIVE}/sessions/{live['id']}/end", headers=alice.headers)
    others = Stream(client, events_path(live["id"], kept["token"]), **{"Last-Event-ID": "0"})
    assert [e["event"] for e in others.rest()] == ["effect", "session_ended"]
    listed = client.get(f"{LIVE}/sessions/{live['id']}/overlays", headers=alice.headers).json
    assert {o["id"]: o["revoked_at"] is not None for o in listed["items"]} == {
        revoked["id"]: True,
        kept["id"]: False,
    }


def test_the_tier_caps_overlay_links_per_session(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.FREE)
    live = start(client, alice)
    for _ in range(2):
        overlay_link(client, alice, live["id"])
    refused = client.post(f"{LIVE}/sessions/{live['id']}/overlays", json={}, headers=alice.headers)
    assert refused.status_code == 403
    assert refused.json["code"] == "tier_required"
    assert refused.json["details"]["tier_required"] == "creator"


def test_the_overlay_page_loads_locked_down(client: FlaskClient, alice: Caller) -> None:
    page = client.get("/live/overlay/00000000-0000-0000-0000-000000000001?token=ovl_x")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert b"overlay.js" in page.data


def test_a_last_event_id_that_is_no_seq_is_refused_in_the_error_shape(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    token = overlay_link(client, alice, live["id"])["token"]
    dashboard = f"{LIVE}/sessions/{live['id']}/stream"
    for bad in ("9" * 5000, "9" * 20, "1e3", "-1", "²"):
        for path, headers in (
            (events_path(live["id"], token), {}),
            (dashboard, alice.headers),
        ):
            answer = client.get(path, headers={**headers, "Last-Event-ID": bad})
            assert answer.status_code == 422, (bad[:30], path)
            assert answer.json["code"] == "validation_failed"
            assert answer.json["details"] == {"fields": {"Last-Event-ID": ["invalid"]}}
        by_query = client.get(f"{events_path(live['id'], token)}&last_event_id={bad}")
        assert by_query.status_code == 422
