"""The notifications API over HTTP: the organisation's notifications written by the daily run
from real releases and fans, each member's unread count and reading, pages, and another
organisation's notification a 404."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from models import notifications
from models.core.base import utcnow
from models.core.erasure import Person, erase_person, export_person
from models.fans.imports import load_fans
from models.fans.releases import submit_release
from tests.api.conftest import Caller, in_org, org_member
from tests.conftest import org_of
from workers.core.setup import Platform

TRACK = {"title": "Song", "artists": ["The Band"], "isrc": "US-RC1-76-07839"}


def approved_release(
    client: FlaskClient, session: Session, who: Caller, admin: Caller, title: str
) -> str:
    body = {"type": "single", "title": title, "artist_name": "The Band", "tracks": [TRACK]}
    release = client.post("/api/v1/releases", json=body, headers=who.headers).json
    submit_release(
        session=session,
        org_id=org_of(session, who.user.id),
        release_id=uuid.UUID(release["id"]),
        user_id=who.user.id,
        files_passed=lambda r: {},
    )
    session.commit()
    path = f"/api/v1/admin/releases/{release['id']}/approve"
    assert client.post(path, headers=admin.headers).status_code == 200
    return str(release["id"])


def daily_run(session: Session) -> int:
    created, _ = notifications.write_notifications(
        session=session, slot=utcnow() + timedelta(hours=1)
    )
    session.commit()
    return len(created)


def get(client: FlaskClient, path: str, headers: dict[str, str]) -> Any:
    answer = client.get(f"/api/v1/notifications{path}", headers=headers)
    assert answer.status_code == 200, answer.json
    return answer.json


def test_members_read_their_organisations_notifications_each_for_themselves(
    client: FlaskClient, session: Session, tx_platform: Platform, alice: Caller, admin: Caller
) -> None:
    titles = ["One", "Two", "Three"]
    for title in titles:
        approved_release(client, session, alice, admin, title)
    org_id = org_of(session, alice.user.id)
    load_fans(
        session=session, org_id=org_id, rows=[{"email": f"f{i}@x.example"} for i in range(120)]
    )
    session.commit()
    assert daily_run(session) == 4
    assert daily_run(session) == 0  # run again: nothing new
    manager = org_member(tx_platform, session, org_id)

    first = get(client, "?limit=3", alice.headers)
    rest = get(client, f"?limit=3&cursor={first['next_cursor']}", alice.headers)
    items = first["items"] + rest["items"]
    assert rest["next_cursor"] is None
    assert sorted(i["kind"] for i in items) == ["fan_milestone"] + ["release_approved"] * 3
    assert {i["facts"].get("title") for i in items} == {*titles, None}
    assert all(not i["read"] and i["read_at"] is None for i in items)
    assert (first["unread"], get(client, "/unread-count", alice.headers)) == (4, {"unread": 4})

    one = items[0]["id"]
    marked = client.post(f"/api/v1/notifications/{one}/read", headers=alice.headers)
    assert marked.status_code == 200 and marked.json["read"] is True
    again = client.post(f"/api/v1/notifications/{one}/read", headers=alice.headers)
    assert again.json["read_at"] == marked.json["read_at"]
    assert get(client, "/unread-count", alice.headers) == {"unread": 3}
    unread = get(client, "?unread=true", alice.headers)["items"]
    assert one not in {i["id"] for i in unread} and len(unread) == 3
    # Another member's reading is their own.
    assert get(client, "/unread-count", in_org(manager, org_id)) == {"unread": 4}

    everything = client.post("/api/v1/notifications/read-all", headers=alice.headers)
    assert everything.json == {"marked": 3, "unread": 0}
    assert get(client, "?unread=true", alice.headers)["items"] == []
    assert get(client, "/unread-count", in_org(manager, org_id)) == {"unread": 4}


def test_another_organisations_notification_is_a_404_and_never_listed(
    client: FlaskClient, session: Session, alice: Caller, bob: Caller, admin: Caller
) -> None:
    approved_release(client, session, alice, admin, "Mine")
    assert daily_run(session) == 1
    [mine] = get(client, "", alice.headers)["items"]

    assert get(client, "", bob.headers) == {"items": [], "next_cursor": None, "unread": 0}
    answer = client.post(f"/api/v1/notifications/{mine['id']}/read", headers=bob.headers)
    assert answer.status_code == 404
    assert answer.json["details"] == {"notification_id": mine["id"]}
    unknown = client.post(f"/api/v1/notifications/{uuid.uuid4()}/read", headers=alice.headers)
    assert unknown.status_code == 404
    assert client.post("/api/v1/notifications/read-all", headers=bob.headers).json["marked"] == 0
    assert get(client, "/unread-count", alice.headers) == {"unread": 1}
    assert client.get("/api/v1/notifications").status_code == 401
    bad = client.get("/api/v1/notifications?cursor=nonsense", headers=alice.headers)
    assert (bad.status_code, bad.json["details"]) == (422, {"fields": {"cursor": ["invalid"]}})


def test_a_leaving_members_readings_are_exported_then_erased(
    client: FlaskClient, session: Session, alice: Caller, admin: Caller
) -> None:
    approved_release(client, session, alice, admin, "Mine")
    daily_run(session)
    [mine] = get(client, "", alice.headers)["items"]
    client.post(f"/api/v1/notifications/{mine['id']}/read", headers=alice.headers)
    person = Person(user_id=alice.user.id, email=alice.user.email)

    exported = export_person(session=session, person=person)["notifications"]
    assert [r["notification_id"] for r in exported["notifications_read"]] == [mine["id"]]
    erase_person(session=session, person=person)
    assert export_person(session=session, person=person)["notifications"] == {
        "notifications_read": []
    }
    assert session.get(notifications.Notification, uuid.UUID(mine["id"])) is not None


def test_operators_may_run_the_daily_job_by_hand_and_members_may_not(
    client: FlaskClient, alice: Caller, admin: Caller
) -> None:
    body = {"kind": "notifications.daily", "params": {"slot": "2026-12-07T06:00:00Z"}}

    assert client.post("/api/v1/jobs", json=body, headers=admin.headers).status_code == 202
    refused = client.post("/api/v1/jobs", json=body, headers=alice.headers)
    assert refused.status_code == 422, refused.json  # an operators' kind: unknown to members
    assert "kind" in refused.json["details"]["fields"]
