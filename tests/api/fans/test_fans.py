"""The fan list over HTTP: add, read, change, remove, search, filters, pages, insights."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from models.fans import fans as fans_domain
from tests.api.conftest import Caller


def add(client: FlaskClient, who: Caller, **fields: Any) -> Any:
    body = {"name": "Ada Lovelace", "email": "ada@example.com", **fields}
    return client.post("/api/v1/fans", json=body, headers=who.headers)


def test_a_fan_is_added_and_read_back(client: FlaskClient, alice: Caller) -> None:
    created = add(client, alice, country="GB", tags=["vip"], consent=True, age=36)

    assert created.status_code == 201, created.json
    fan = client.get(f"/api/v1/fans/{created.json['id']}", headers=alice.headers).json
    assert fan["email"] == "ada@example.com"
    assert fan["status"] == "free"
    assert fan["source"] == "manual"
    assert fan["tags"] == ["vip"]
    assert fan["consent_at"] is not None


def test_the_same_address_twice_is_a_409_naming_the_existing_fan(
    client: FlaskClient, alice: Caller
) -> None:
    first = add(client, alice).json

    again = add(client, alice, email="  ADA@Example.com ", name="Someone else")

    assert again.status_code == 409
    assert again.json["details"]["fan_id"] == first["id"]
    assert again.json["details"]["fan"]["name"] == "Ada Lovelace"


def test_another_artists_fan_is_not_found_and_the_same_address_is_theirs_to_add(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    fan_id = add(client, alice).json["id"]

    assert client.get(f"/api/v1/fans/{fan_id}", headers=bob.headers).status_code == 404
    assert (
        client.patch(f"/api/v1/fans/{fan_id}", json={"name": "x"}, headers=bob.headers).status_code
        == 404
    )
    assert client.delete(f"/api/v1/fans/{fan_id}", headers=bob.headers).status_code == 404
    assert add(client, bob).status_code == 201
    assert client.get("/api/v1/fans", headers=bob.headers).json["items"][0]["id"] != fan_id


def test_a_fan_is_changed_and_removed(client: FlaskClient, alice: Caller) -> None:
    fan_id = add(client, alice).json["id"]
    other = add(client, alice, email="grace@example.com").json

    changed = client.patch(
        f"/api/v1/fans/{fan_id}", json={"status": "paid", "country": "FR"}, headers=alice.headers
    )
    taken = client.patch(
        f"/api/v1/fans/{fan_id}", json={"email": "grace@example.com"}, headers=alice.headers
    )
    removed = client.delete(f"/api/v1/fans/{fan_id}", headers=alice.headers)

    assert changed.json["status"] == "paid"
    assert changed.json["country"] == "FR"
    assert taken.status_code == 409
    assert taken.json["details"]["fan_id"] == other["id"]
    assert removed.status_code == 204
    assert client.get(f"/api/v1/fans/{fan_id}", headers=alice.headers).status_code == 404


def test_bad_fields_are_a_422_naming_them_and_nothing_is_written(
    client: FlaskClient, alice: Caller
) -> None:
    answer = add(client, alice, country="France", age=200, status="gold", email="not-an-address")

    assert answer.status_code == 422
    assert set(answer.json["details"]["fields"]) >= {"country", "age", "status", "email"}
    assert client.get("/api/v1/fans", headers=alice.headers).json["items"] == []


def test_search_finds_by_part_of_a_name_or_address_and_filters_narrow(
    client: FlaskClient, alice: Caller
) -> None:
    add(client, alice, name="Ada Lovelace", email="ada@example.com", country="GB")
    add(client, alice, name="Grace Hopper", email="grace@navy.example", country="US")
    add(client, alice, name="Alan Turing", email="alan@example.com", country="GB", status="paid")
    add(client, alice, name="100% Fan", email="percent@example.com")

    def names(**query: str) -> list[str]:
        page = client.get("/api/v1/fans", query_string=query, headers=alice.headers).json
        return sorted(fan["name"] for fan in page["items"])

    assert names(search="LOVE") == ["Ada Lovelace"]
    assert names(search="navy") == ["Grace Hopper"]
    assert names(search="a") == ["100% Fan", "Ada Lovelace", "Alan Turing", "Grace Hopper"]
    assert names(search="%") == ["100% Fan"]  # a wildcard character is matched as itself
    assert names(country="GB") == ["Ada Lovelace", "Alan Turing"]
    assert names(country="GB", status="paid") == ["Alan Turing"]


def test_pages_follow_the_cursor_without_repeats(client: FlaskClient, alice: Caller) -> None:
    for n in range(7):
        add(client, alice, email=f"fan{n}@example.com", name=f"Fan {n}")

    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/fans", query_string=query, headers=alice.headers).json
        seen += [fan["email"] for fan in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert sorted(seen) == sorted(f"fan{n}@example.com" for n in range(7))
    assert len(seen) == 7


def test_insights_count_each_way(client: FlaskClient, alice: Caller, bob: Caller) -> None:
    add(client, alice, email="a@example.com", country="GB", gender="female", age=22)
    add(client, alice, email="b@example.com", country="GB", gender="male", birth_year=1980)
    add(client, alice, email="c@example.com", country="US", status="paid", source="landing_page")
    add(client, bob, email="d@example.com", country="NG")

    insights = client.get("/api/v1/fans/insights", headers=alice.headers).json

    assert insights["total"] == 3
    assert insights["by_country"] == [{"key": "GB", "fans": 2}, {"key": "US", "fans": 1}]
    assert {"key": "paid", "fans": 1} in insights["by_status"]
    assert {"key": "landing_page", "fans": 1} in insights["by_source"]
    assert {"key": "18-24", "fans": 1} in insights["by_age"]
    assert {"key": "unknown", "fans": 1} in insights["by_age"]
    assert sum(week["fans"] for week in insights["growth_by_week"]) == 3


def test_search_pages_agree_whether_a_term_fills_the_recent_window_or_not(
    client: FlaskClient, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fans_domain, "RECENT_WINDOW", 4)  # common: "fan"; rare: "rare"
    for n in range(9):
        add(client, alice, email=f"fan{n}@example.com", name="Rare one" if n in (1, 7) else "Fan")

    def all_pages(search: str) -> list[str]:
        seen, cursor = [], None
        while True:
            query = {"limit": "2", **({"search": search} if search else {})}
            query.update({"cursor": cursor} if cursor else {})
            page = client.get("/api/v1/fans", query_string=query, headers=alice.headers).json
            seen += [fan["email"] for fan in page["items"]]
            if (cursor := page["next_cursor"]) is None:
                return seen

    everyone = all_pages("")  # the list's own order, newest first
    assert len(everyone) == 9
    assert all_pages("fan") == everyone  # every fan matches: pages fill in the window
    rare = ["fan1@example.com", "fan7@example.com"]
    assert all_pages("rare") == [email for email in everyone if email in rare]


def test_an_address_taken_after_the_check_is_still_a_409(
    alice: Caller, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = add(client, alice).json
    grace = add(client, alice, email="grace@example.com").json
    real = fans_domain.find_by_email
    calls: list[str] = []

    def first_misses(**kwargs: Any) -> Any:
        # The check finds no one, as when another request takes the address just after it.
        calls.append(kwargs["email"])
        return None if len(calls) == 1 else real(**kwargs)

    monkeypatch.setattr(fans_domain, "find_by_email", first_misses)

    taken = client.patch(
        f"/api/v1/fans/{ada['id']}", json={"email": "grace@example.com"}, headers=alice.headers
    )

    assert taken.status_code == 409
    assert taken.json["details"]["fan_id"] == grace["id"]
    assert len(calls) == 2
    monkeypatch.undo()
    fan = client.get(f"/api/v1/fans/{ada['id']}", headers=alice.headers).json
    assert fan["email"] == "ada@example.com"
