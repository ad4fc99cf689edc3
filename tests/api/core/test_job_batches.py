"""POST /api/v1/jobs/batch: many jobs in one transaction, all or none, each item checked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.core.jobs import Job, JobEvent
from models.core.quotas import OrgUsage, Tier, quota_day
from models.orgs.organizations import Organization, create_organization
from tests.api.conftest import Caller, a_job, in_org
from tests.conftest import access_token, broker_held_jobs, make_user, org_of
from workers.core.setup import Platform

BATCH = "/api/v1/jobs/batch"


def pages(n: int, **item: Any) -> dict[str, Any]:
    """A test.pages item (any member may submit it) that walks `n` pages."""
    return a_job(params={"pages": n, "fail_at": 99}, **item)


def count_jobs(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Job)) or 0


def used(session: Session, org_id: uuid.UUID) -> int:
    session.expire_all()
    row = session.get(OrgUsage, (org_id, quota_day()))
    return row.jobs if row else 0


def set_used(session: Session, org_id: uuid.UUID, jobs: int) -> None:
    session.merge(OrgUsage(org_id=org_id, day=quota_day(), jobs=jobs))
    session.commit()


def test_a_batch_answers_202_with_its_jobs_in_request_order_each_sent_to_the_broker(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    items = [pages(1), pages(2, priority=7), pages(3, run_at=later.isoformat()), pages(4)]

    response = client.post(BATCH, json={"items": items}, headers=alice.headers)

    assert response.status_code == 202
    assert "Location" not in response.headers
    jobs = response.json["items"]
    assert [j["params"]["pages"] for j in jobs] == [1, 2, 3, 4]
    assert response.json["replayed"] == []
    assert {j["status"] for j in jobs} == {"queued"}
    assert [j["priority"] for j in jobs] == [0, 7, 0, 0]
    assert datetime.fromisoformat(jobs[2]["run_after"]) == later
    org_id = org_of(session, alice.user.id)
    for job in jobs:
        row = session.get_one(Job, uuid.UUID(job["id"]))
        assert (row.owner_id, row.org_id, row.kind) == (alice.user.id, org_id, "test.pages")
        events = session.scalars(select(JobEvent.type).where(JobEvent.job_id == row.id))
        assert list(events) == ["queued"]
    held = broker_held_jobs(tx_platform, "test")
    assert {jobs[0]["id"], jobs[1]["id"], jobs[3]["id"]} <= held
    assert jobs[2]["id"] in broker_held_jobs(tx_platform, "test.DQ")  # delayed until run_at


def test_one_bad_item_refuses_the_whole_batch_naming_each_bad_item_and_why(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    before, held = count_jobs(session), broker_held_jobs(tx_platform, "test")
    items = [
        pages(1),
        a_job(params={"pages": "many", "fail_at": 1}),  # params that do not fit the kind
        {"kind": "video.render", "params": {}},  # no such kind
        pages(1, priority=12),  # out of range
        {"kind": "system.sleep", "params": {"seconds": 1}},  # platform admins only
        "not an object",
        pages(1, colour="blue"),  # a field no job has
        pages(1),
    ]

    response = client.post(BATCH, json={"items": items}, headers=alice.headers)

    assert response.status_code == 422
    assert response.json["code"] == "validation_failed"
    assert response.json["message"] == "6 of the 8 items are not valid; nothing was submitted"
    errors = response.json["details"]["items"]
    assert set(errors) == {"1", "2", "3", "4", "5", "6"}
    assert set(errors["1"]["params"]) == {"pages"}
    assert errors["2"] == {"kind": ["no job kind named 'video.render'"]}
    assert set(errors["3"]) == {"priority"}
    assert errors["4"] == {"kind": ["no job kind named 'system.sleep'"]}
    assert errors["5"] == {"_schema": ["Invalid input type."]}
    assert errors["6"] == {"colour": ["Unknown field."]}
    assert count_jobs(session) == before
    assert broker_held_jobs(tx_platform, "test") == held
    assert used(session, org_id) == 0


def test_a_kind_that_needs_a_verified_address_is_an_item_error_for_an_unverified_user(
    client: FlaskClient, tx_platform: Platform, session: Session
) -> None:
    user = make_user(session, verified=False)
    session.commit()
    headers = {"Authorization": f"Bearer {access_token(tx_platform, session, user)}"}
    before = count_jobs(session)

    items = [pages(1), {"kind": "test.mailer", "params": {}}]
    response = client.post(BATCH, json={"items": items}, headers=headers)

    assert response.status_code == 422
    (message,) = response.json["details"]["items"]["1"]["kind"]
    assert message.startswith("confirm your e-mail address before starting test.mailer jobs")
    assert count_jobs(session) == before


def test_an_empty_batch_a_batch_over_500_items_or_no_list_is_a_422(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    before = count_jobs(session)
    for body in ({"items": []}, {"items": [pages(1)] * 501}, {"items": {"0": pages(1)}}, {}):
        response = client.post(BATCH, json=body, headers=alice.headers)
        assert response.status_code == 422, body
        assert "items" in response.json["details"]["fields"], body
    assert count_jobs(session) == before


def test_500_items_are_accepted_in_one_batch(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    session.get_one(Organization, org_id).tier = Tier.ENTERPRISE  # past the free 100 a day
    session.commit()
    items = [pages(1, idempotency_key=f"import-2026-12-01-row-{i:04}") for i in range(500)]

    response = client.post(BATCH, json={"items": items}, headers=alice.headers)

    assert response.status_code == 202, response.json
    assert len(response.json["items"]) == 500
    assert used(session, org_id) == 500


def test_a_replayed_item_answers_the_job_its_key_made_and_is_named_as_replayed(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    org_id = org_of(session, alice.user.id)
    single = client.post(
        "/api/v1/jobs", json=pages(9), headers=alice.with_headers(Idempotency_Key="c")
    )
    first = client.post(
        BATCH,
        json={"items": [pages(1, idempotency_key="a"), pages(2, idempotency_key="b")]},
        headers=alice.headers,
    )
    before = count_jobs(session)

    again = client.post(
        BATCH,
        json={
            "items": [
                pages(3),
                pages(2, idempotency_key="b"),
                pages(4, idempotency_key="d"),
                pages(9, idempotency_key="c"),  # the single POST's Idempotency-Key
            ]
        },
        headers=alice.headers,
    )

    assert first.status_code == again.status_code == 202
    assert again.json["replayed"] == [1, 3]
    jobs = again.json["items"]
    assert jobs[1]["id"] == first.json["items"][1]["id"]
    assert jobs[3]["id"] == single.json["id"]
    assert count_jobs(session) == before + 2
    assert used(session, org_id) == 1 + 2 + 2  # replays count nothing


def test_the_same_key_twice_in_one_batch_is_refused(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    before = count_jobs(session)
    items = [pages(1, idempotency_key="k"), pages(2), pages(1, idempotency_key="k")]

    response = client.post(BATCH, json={"items": items}, headers=alice.headers)

    assert response.status_code == 422
    assert response.json["details"]["items"] == {
        "2": {"idempotency_key": ["item 0 has the same idempotency_key"]}
    }
    assert count_jobs(session) == before


def test_a_key_used_before_for_another_request_is_a_409_naming_the_item(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    first = client.post(
        BATCH, json={"items": [pages(1, idempotency_key="k")]}, headers=alice.headers
    )
    before, held = count_jobs(session), broker_held_jobs(tx_platform, "test")

    items = [pages(5), pages(2, idempotency_key="k")]
    response = client.post(BATCH, json={"items": items}, headers=alice.headers)

    assert response.status_code == 409
    assert response.json["code"] == "conflict"
    job_id = first.json["items"][0]["id"]
    assert response.json["details"]["items"] == {
        "1": {"idempotency_key": [f"already used for a different request: job {job_id}"]}
    }
    assert count_jobs(session) == before
    assert broker_held_jobs(tx_platform, "test") == held


def test_keys_are_the_submitters_and_never_answer_another_organizations_job(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session
) -> None:
    own_org = org_of(session, alice.user.id)
    other_org = create_organization(session=session, name="Side project", owner_id=alice.user.id)
    session.commit()
    body = {"items": [pages(1, idempotency_key="k")]}
    # Both organisations named: made in one test transaction, neither is visibly her first.
    mine = client.post(BATCH, json=body, headers=in_org(alice, own_org))
    before = count_jobs(session)

    elsewhere = client.post(BATCH, json=body, headers=in_org(alice, other_org.id))
    bobs = client.post(BATCH, json=body, headers=bob.headers)

    assert elsewhere.status_code == 409
    assert elsewhere.json["details"]["items"] == {
        "0": {"idempotency_key": ["already used in another organization; use a new key"]}
    }
    assert mine.json["items"][0]["id"] not in str(elsewhere.json)
    assert bobs.status_code == 202 and bobs.json["replayed"] == []
    assert bobs.json["items"][0]["id"] != mine.json["items"][0]["id"]
    assert count_jobs(session) == before + 1  # bob's


def test_the_quota_is_charged_once_for_the_new_jobs_and_a_batch_past_it_is_refused_whole(
    client: FlaskClient, alice: Caller, admin: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    set_used(session, org_id, 90)
    before, held = count_jobs(session), broker_held_jobs(tx_platform, "test")

    refused = client.post(BATCH, json={"items": [pages(1)] * 11}, headers=alice.headers)

    assert refused.status_code == 429
    assert refused.json["code"] == "quota_exceeded"
    details = refused.json["details"]
    assert (details["limit"], details["used"], details["tier"]) == (100, 90, "free")
    assert int(refused.headers["Retry-After"]) > 0
    assert count_jobs(session) == before
    assert broker_held_jobs(tx_platform, "test") == held
    assert used(session, org_id) == 90

    accepted = client.post(BATCH, json={"items": [pages(1)] * 10}, headers=alice.headers)

    assert accepted.status_code == 202
    assert used(session, org_id) == 100
    assert count_jobs(session) == before + 10


def test_kinds_that_do_not_count_are_not_charged(
    client: FlaskClient, admin: Caller, session: Session
) -> None:
    org_id = org_of(session, admin.user.id)
    items = [{"kind": "system.noop", "params": {}}] * 3 + [pages(1)]

    response = client.post(BATCH, json={"items": items}, headers=admin.headers)

    assert response.status_code == 202
    assert used(session, org_id) == 1


def test_a_batch_needs_a_token(client: FlaskClient) -> None:
    response = client.post(BATCH, json={"items": [pages(1)]})
    assert response.status_code == 401
