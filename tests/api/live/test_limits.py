"""What keeps one user from growing a session's log without bound: triggers and overlay links
are rate limited per user (429 in the error shape, with Retry-After), and the trigger's count
of the queue reads the effects not yet finished through an index, not the whole log. And one
overlay link holds at most LIVE_MAX_STREAMS_PER_LINK streams, so a leaked one cannot take its
session's every place."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from models.core.quotas import Tier
from tests.api.conftest import Caller
from tests.api.live.conftest import LIVE, Stream, on_tier, overlay_link, start, trigger
from web import create_app
from workers.core.setup import Platform


@pytest.fixture()
def app(tx_platform: Platform) -> Flask:
    settings = tx_platform.settings.replace(
        rate_limit_live_trigger="3/minute",
        rate_limit_live_overlay_link="2/hour",
        live_max_streams_per_link=2,
    )
    return create_app(platform=dataclasses.replace(tx_platform, settings=settings))


def test_triggers_past_the_users_rate_limit_are_a_429(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    assert [trigger(client, alice, live["id"], "wipe").status_code for _ in range(3)] == [201] * 3
    refused = trigger(client, alice, live["id"], "wipe")
    assert refused.status_code == 429
    assert refused.json["code"] == "rate_limited"
    assert refused.json["details"]["per"] == "user"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    log = client.get(f"{LIVE}/sessions/{live['id']}/events", headers=alice.headers).json
    assert len(log["items"]) == 3
    # Another user is counted apart.
    theirs = start(client, bob)
    assert trigger(client, bob, theirs["id"], "wipe").status_code == 201


def test_overlay_links_made_past_the_users_rate_limit_are_a_429(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    links = f"{LIVE}/sessions/{live['id']}/overlays"
    for _ in range(2):  # made and revoked: each revocation is an entry of the log
        made = client.post(links, json={"label": "scene"}, headers=alice.headers)
        assert made.status_code == 201
        client.delete(f"{links}/{made.json['id']}", headers=alice.headers)
    refused = client.post(links, json={"label": "scene"}, headers=alice.headers)
    assert refused.status_code == 429
    assert refused.json["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    log = client.get(f"{LIVE}/sessions/{live['id']}/events", headers=alice.headers).json
    assert [e["type"] for e in log["items"]] == ["token_revoked"] * 2


def test_the_queue_count_reads_an_index_of_unfinished_effects(session: Session) -> None:
    session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = session.execute(
        text(
            "EXPLAIN SELECT count(*), min(ends_at) FROM live_events "
            "WHERE session_id = gen_random_uuid() AND type = 'effect' AND ends_at > now()"
        )
    ).scalars()
    assert "ix_live_events_queue" in "\n".join(plan)


def test_one_link_holds_at_most_its_streams_and_leaves_the_rest_to_the_others(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    live = start(client, alice)
    leaked, kept = (overlay_link(client, alice, live["id"])["token"] for _ in range(2))
    path = f"{LIVE}/overlay/{live['id']}/events?token="
    open_ = [Stream(client, path + leaked) for _ in range(2)]
    assert [s.status_code for s in open_] == [200, 200]
    refused = client.get(path + leaked)
    assert refused.status_code == 429
    assert refused.json["code"] == "overlay_link_streams_full"
    assert refused.json["details"] == {"max_streams_per_link": 2}
    assert int(refused.headers["Retry-After"]) >= 1
    other = Stream(client, path + kept)  # the session has room: another link opens
    assert other.status_code == 200
    assert other.take(0) == []
    figures = client.get(f"{LIVE}/sessions/{live['id']}", headers=alice.headers).json
    assert figures["overlays_connected"] == 3
    other.drop()  # (streams are dropped last opened first: each holds its request context)
    open_[1].drop()  # a closed stream gives its place back
    again = Stream(client, path + leaked)
    assert again.status_code == 200
    again.drop()
    open_[0].drop()
