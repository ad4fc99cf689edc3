"""The influencer API: campaigns per organisation, searches started as jobs, creators listed
by keyset pages with filters, exports, exclusions; another organisation's ids answer 404."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.core.erasure import Person, erase_person, export_person
from models.core.jobs import Job
from models.influencers import Campaign, Creator, Search
from tests.api.conftest import Caller

BASE = "/api/v1/influencers"


def new_campaign(client: FlaskClient, who: Caller, name: str = "Spring launch") -> dict[str, Any]:
    response = client.post(f"{BASE}/campaigns", json={"name": name}, headers=who.headers)
    assert response.status_code == 201, response.json
    return response.json  # type: ignore[no-any-return]


def a_search(**overrides: Any) -> dict[str, Any]:
    body = {"platform": "tiktok", "keywords": ["gaming"], "target": 100, "credit_budget": 50}
    body.update(overrides)
    return body


def test_a_campaign_is_created_read_changed_listed_and_deleted(
    client: FlaskClient, alice: Caller
) -> None:
    made = new_campaign(client, alice)
    path = f"{BASE}/campaigns/{made['id']}"
    assert made["status"] == "active"

    changed = client.patch(
        path, json={"status": "paused", "description": "Q2"}, headers=alice.headers
    )
    assert changed.status_code == 200
    assert (changed.json["status"], changed.json["description"]) == ("paused", "Q2")
    listed = client.get(f"{BASE}/campaigns", headers=alice.headers).json
    assert [c["id"] for c in listed["items"]] == [made["id"]]

    assert client.delete(path, headers=alice.headers).status_code == 204
    assert client.get(path, headers=alice.headers).status_code == 404


def test_another_organizations_campaign_is_not_found(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    made = new_campaign(client, alice)
    path = f"{BASE}/campaigns/{made['id']}"

    for response in (
        client.get(path, headers=bob.headers),
        client.patch(path, json={"name": "mine"}, headers=bob.headers),
        client.delete(path, headers=bob.headers),
        client.post(f"{path}/searches", json=a_search(), headers=bob.headers),
        client.get(f"{path}/searches", headers=bob.headers),
        client.get(f"{path}/creators", headers=bob.headers),
        client.post(f"{path}/exports", json={}, headers=bob.headers),
    ):
        assert response.status_code == 404, response.json
        assert response.json["code"] == "not_found"
    assert client.get(f"{BASE}/campaigns", headers=bob.headers).json["items"] == []
    assert client.get(path, headers=alice.headers).json["name"] == "Spring launch"


def test_a_search_is_stored_with_its_job_and_answers_202(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    campaign = new_campaign(client, alice)
    response = client.post(
        f"{BASE}/campaigns/{campaign['id']}/searches",
        json=a_search(filters={"followers_min": 10_000, "engagement_min": "0.02"}),
        headers=alice.headers,
    )

    assert response.status_code == 202, response.json
    search = response.json["search"]
    assert response.headers["Location"].endswith(f"/api/v1/jobs/{response.json['job_id']}")
    assert (search["state"], search["found"], search["target"]) == ("queued", 0, 100)
    assert search["filters"] == {"followers_min": 10_000, "engagement_min": "0.020000"}
    job = session.get_one(Job, uuid.UUID(response.json["job_id"]))
    assert (job.kind, job.params) == ("influencers.search", {"search_id": search["id"]})
    read = client.get(
        f"{BASE}/campaigns/{campaign['id']}/searches/{search['id']}", headers=alice.headers
    )
    assert read.json["job_id"] == response.json["job_id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (a_search(keywords=[]), "keywords"),
        (a_search(type="similar", keywords=[]), "seed_handle"),
        (a_search(platform="myspace"), "platform"),
        (a_search(target=5000), "target"),  # past INFLUENCER_SEARCH_MAX_TARGET
        (a_search(credit_budget=0), "credit_budget"),
        (a_search(filters={"country": "USA"}), "filters"),
    ],
)
def test_a_bad_search_is_refused_and_nothing_is_stored(
    client: FlaskClient, alice: Caller, session: Session, body: dict[str, Any], field: str
) -> None:
    campaign = new_campaign(client, alice)
    response = client.post(
        f"{BASE}/campaigns/{campaign['id']}/searches", json=body, headers=alice.headers
    )
    assert response.status_code == 422
    assert field in response.json["details"]["fields"]
    assert session.scalars(select(Search)).all() == []


def test_an_archived_campaign_starts_no_search(client: FlaskClient, alice: Caller) -> None:
    campaign = new_campaign(client, alice)
    path = f"{BASE}/campaigns/{campaign['id']}"
    client.patch(path, json={"status": "archived"}, headers=alice.headers)
    assert (
        client.post(f"{path}/searches", json=a_search(), headers=alice.headers).status_code == 409
    )


def _creators(session: Session, search_id: str, count: int) -> None:
    search = session.get_one(Search, uuid.UUID(search_id))
    for n in range(count):
        session.add(
            Creator(
                org_id=search.org_id,
                campaign_id=search.campaign_id,
                search_id=search.id,
                platform="tiktok",
                platform_id=str(1000 + n),
                handle=f"creator{n}",
                followers=1000 * n,
                emails=["a@example.com"] if n % 2 else [],
                has_email=bool(n % 2),
                engagement_rate=Decimal("0.01") * n,
                engagement_formula="tiktok: sum of likes / sum of views, videos seen",
            )
        )
    session.commit()


def test_creators_page_by_keyset_with_filters_and_sorts(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    campaign = new_campaign(client, alice)
    started = client.post(
        f"{BASE}/campaigns/{campaign['id']}/searches", json=a_search(), headers=alice.headers
    )
    _creators(session, started.json["search"]["id"], 25)
    path = f"{BASE}/campaigns/{campaign['id']}/creators"

    seen: list[int] = []
    cursor = None
    while True:
        query = {"sort": "followers", "limit": 10, **({"cursor": cursor} if cursor else {})}
        page = client.get(path, query_string=query, headers=alice.headers).json
        seen += [c["followers"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted((1000 * n for n in range(25)), reverse=True)

    with_email = client.get(
        path,
        query_string={"has_email": "true", "followers_min": 10_000, "sort": "engagement"},
        headers=alice.headers,
    ).json["items"]
    assert [c["handle"] for c in with_email] == [
        f"creator{n}" for n in (23, 21, 19, 17, 15, 13, 11)
    ]
    assert with_email[0]["engagement_rate"] == "0.230000"
    assert with_email[0]["engagement_formula"].startswith("tiktok:")

    bad = client.get(path, query_string={"cursor": "not-a-cursor"}, headers=alice.headers)
    assert bad.status_code == 422


def test_an_export_is_a_job_and_its_file_is_not_served_before_it_is_done(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    campaign = new_campaign(client, alice)
    started = client.post(
        f"{BASE}/campaigns/{campaign['id']}/exports",
        json={"filters": {"has_email": True}},
        headers=alice.headers,
    )
    assert started.status_code == 202
    job_id = started.json["job_id"]
    assert client.get(f"{BASE}/exports/{job_id}", headers=alice.headers).status_code == 409
    assert client.get(f"{BASE}/exports/{job_id}", headers=bob.headers).status_code == 404


def test_an_excluded_creator_is_recorded_for_the_organization(
    client: FlaskClient, alice: Caller
) -> None:
    response = client.post(
        f"{BASE}/exclusions",
        json={"platform": "tiktok", "platform_id": "123", "reason": "contacted"},
        headers=alice.headers,
    )
    assert response.status_code == 204
    assert client.get(f"{BASE}/credits", headers=alice.headers).json == {"credits_used": 0}


def test_a_leaving_member_is_exported_then_erased_from_campaigns_the_org_keeps(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    campaign = new_campaign(client, alice)
    client.post(
        f"{BASE}/campaigns/{campaign['id']}/searches", json=a_search(), headers=alice.headers
    )
    person = Person(user_id=alice.user.id, email=alice.user.email)

    exported = export_person(session=session, person=person)["influencers"]
    erase_person(session=session, person=person)

    assert [c["name"] for c in exported["campaigns"]] == ["Spring launch"]
    assert exported["searches"][0]["keywords"] == ["gaming"]
    kept = session.get_one(Campaign, uuid.UUID(campaign["id"]))
    assert kept.created_by is None
    assert [s.created_by for s in session.scalars(select(Search))] == [None]
