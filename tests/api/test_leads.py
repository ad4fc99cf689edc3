"""/api/v1/leads over HTTP: goals start their job, leads are listed, created and edited with
their history, and another organisation's goal or lead is a 404."""

from __future__ import annotations

import io
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import leads
from models.core.erasure import Person, erase_person, export_person
from models.core.jobs import Job
from tests.api.conftest import Caller, org_member
from tests.conftest import org_of
from workers.core.setup import Platform
from workers.core.storage import storage


def a_lead(client: FlaskClient, who: Caller, domain: str, **values: Any) -> Any:
    return client.post("/api/v1/leads", json={"domain": domain, **values}, headers=who.headers)


def test_a_goal_is_stored_and_its_strategy_job_started(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    answer = client.post(
        "/api/v1/leads/goals",
        json={
            "goal": "Sell scheduling software to plumbers",
            "location": "Austin",
            "lead_count": 5,
        },
        headers=alice.headers,
    )

    assert answer.status_code == 202
    body = answer.get_json()
    assert body["goal"]["status"] == "planning" and body["goal"]["lead_count"] == 5
    assert body["job"]["kind"] == "leads.strategy"
    assert answer.headers["Location"] == f"/api/v1/jobs/{body['job']['id']}"
    job = session.get_one(Job, body["job"]["id"])
    assert job.params == {"goal_id": body["goal"]["id"]} and job.queue == "leads"
    read = client.get(f"/api/v1/leads/goals/{body['goal']['id']}", headers=alice.headers)
    assert read.get_json()["strategy_job_id"] == body["job"]["id"]


def test_a_bad_goal_is_refused_and_nothing_is_stored(client: FlaskClient, alice: Caller) -> None:
    answer = client.post(
        "/api/v1/leads/goals", json={"goal": "x", "lead_count": 10_000}, headers=alice.headers
    )

    assert answer.status_code == 422
    assert set(answer.get_json()["details"]["fields"]) == {"goal", "lead_count"}
    assert client.get("/api/v1/leads/goals", headers=alice.headers).get_json()["items"] == []


def test_another_organizations_goal_and_lead_are_not_found(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    goal = client.post("/api/v1/leads/goals", json={"goal": "Find bakeries"}, headers=alice.headers)
    lead = a_lead(client, alice, "acme.example")

    goal_id, lead_id = goal.get_json()["goal"]["id"], lead.get_json()["id"]

    assert client.get(f"/api/v1/leads/goals/{goal_id}", headers=bob.headers).status_code == 404
    assert client.get(f"/api/v1/leads/{lead_id}", headers=bob.headers).status_code == 404
    changed = client.patch(f"/api/v1/leads/{lead_id}", json={"status": "lost"}, headers=bob.headers)
    assert changed.status_code == 404
    assert (
        client.get(f"/api/v1/leads/{lead_id}", headers=alice.headers).get_json()["status"] == "new"
    )


def test_a_lead_per_domain_scored_and_every_change_in_its_history(
    client: FlaskClient, alice: Caller
) -> None:
    created = a_lead(client, alice, "www.Acme.example", emails=["jane@acme.example"])
    assert created.status_code == 201
    lead = created.get_json()
    assert lead["domain"] == "acme.example" and lead["source"] == "manual"
    assert lead["score"] == 30 and "named person" in lead["score_reasons"][0]
    assert a_lead(client, alice, "acme.example").status_code == 409

    client.patch(f"/api/v1/leads/{lead['id']}", json={"status": "contacted"}, headers=alice.headers)
    answer = client.patch(
        f"/api/v1/leads/{lead['id']}",
        json={"tags": ["hot"], "notes": "called"},
        headers=alice.headers,
    )

    history = answer.get_json()["history"]
    assert [h["after"] for h in history[1:]] == [
        {"status": "contacted"},
        {"tags": ["hot"], "notes": "called"},
    ]
    assert history[1]["before"] == {"status": "new"}
    assert all(h["actor_id"] == str(alice.user.id) for h in history)


def test_leads_are_filtered_and_paged_by_cursor(client: FlaskClient, alice: Caller) -> None:
    for n in range(5):
        a_lead(client, alice, f"company{n}.example", tags=["hot"] if n % 2 else [])

    first = client.get("/api/v1/leads?limit=2", headers=alice.headers).get_json()
    second = client.get(
        f"/api/v1/leads?limit=2&cursor={first['next_cursor']}", headers=alice.headers
    ).get_json()
    hot = client.get("/api/v1/leads?tag=hot", headers=alice.headers).get_json()

    third = client.get(
        f"/api/v1/leads?limit=2&cursor={second['next_cursor']}", headers=alice.headers
    ).get_json()
    # One transaction here, so one creation time: the pages follow the id, none repeated.
    pages = [first["items"], second["items"], third["items"]]
    assert [len(p) for p in pages] == [2, 2, 1] and third["next_cursor"] is None
    assert sorted(i["domain"] for p in pages for i in p) == [
        f"company{n}.example" for n in range(5)
    ]
    assert sorted(i["domain"] for i in hot["items"]) == ["company1.example", "company3.example"]
    assert client.get("/api/v1/leads?cursor=bogus", headers=alice.headers).status_code == 422


def test_a_spent_budget_refuses_new_goals_and_usage_shows_it(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    free = leads.BUDGETS[leads.Tier.FREE]
    assert free.searches is not None
    leads.record_spending(
        session=session,
        org_id=org_of(session, alice.user.id),
        tokens=500,
        searches=free.searches,
    )
    session.commit()

    refused = client.post(
        "/api/v1/leads/goals", json={"goal": "Find roofers"}, headers=alice.headers
    )
    usage = client.get("/api/v1/leads/usage", headers=alice.headers).get_json()

    assert refused.status_code == 429
    assert refused.get_json()["code"] == "budget_exceeded"
    assert "Retry-After" in refused.headers
    assert usage["tokens"] == {"used": 500, "budget": free.tokens}
    assert usage["searches"] == {"used": free.searches, "budget": free.searches}
    assert client.get("/api/v1/leads/goals", headers=alice.headers).get_json()["items"] == []


def test_validation_starts_a_job_for_your_leads_only(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session
) -> None:
    mine = a_lead(client, alice, "acme.example", emails=["jane@acme.example"]).get_json()
    theirs = a_lead(client, bob, "other.example").get_json()

    refused = client.post(
        "/api/v1/leads/validate",
        json={"lead_ids": [mine["id"], theirs["id"]]},
        headers=alice.headers,
    )
    started = client.post(
        "/api/v1/leads/validate", json={"lead_ids": [mine["id"]]}, headers=alice.headers
    )

    assert refused.status_code == 404
    assert started.status_code == 202
    job = session.get_one(Job, started.get_json()["job"]["id"])
    assert job.kind == "leads.validate" and job.params["lead_ids"] == [mine["id"]]


def test_leads_are_filtered_by_whether_an_address_was_checked_valid(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    checked = a_lead(client, alice, "acme.example", emails=["jane@acme.example"]).get_json()
    a_lead(client, alice, "other.example", emails=["bob@other.example"])
    leads.record_check(
        session=session,
        lead_id=checked["id"],
        email="jane@acme.example",
        verdict=leads.Verdict.VALID,
        reasons=["mail servers: mx.acme.example"],
        source="syntax+mx",
    )
    session.commit()

    valid = client.get("/api/v1/leads?validated=true", headers=alice.headers).get_json()
    detail = client.get(f"/api/v1/leads/{checked['id']}", headers=alice.headers).get_json()

    assert [i["domain"] for i in valid["items"]] == ["acme.example"]
    assert detail["email_checks"][0]["verdict"] == "valid"
    assert detail["email_checks"][0]["source"] == "syntax+mx"


def test_the_overview_counts_leads_conversion_validation_and_cost(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session
) -> None:
    ids = [a_lead(client, alice, f"c{n}.example").get_json()["id"] for n in range(4)]
    a_lead(client, bob, "bobs.example")
    client.patch(f"/api/v1/leads/{ids[0]}", json={"status": "converted"}, headers=alice.headers)
    for email, verdict in (
        ("a@c1.example", leads.Verdict.VALID),
        ("b@c1.example", leads.Verdict.RISKY),
    ):
        leads.record_check(
            session=session, lead_id=ids[1], email=email, verdict=verdict, reasons=[], source="t"
        )
    leads.record_spending(
        session=session, org_id=org_of(session, alice.user.id), tokens=1000, searches=6
    )
    session.commit()

    answer = client.get("/api/v1/leads/analytics/overview", headers=alice.headers)

    assert answer.status_code == 200
    body = answer.get_json()
    assert body["leads"] == 4
    assert body["by_status"] == {
        "new": 3,
        "contacted": 0,
        "qualified": 0,
        "converted": 1,
        "lost": 0,
    }
    assert body["by_source"] == {"manual": 4}
    assert sum(d["leads"] for d in body["by_day"]) == 4
    assert body["conversion_rate"] == "0.2500"
    assert body["verdicts"] == {"valid": 1, "risky": 1} and body["valid_rate"] == "0.5000"
    assert (body["tokens"], body["searches"]) == (1000, 6)
    assert (body["tokens_per_lead"], body["searches_per_lead"]) == ("250.0000", "1.5000")
    bad = client.get(
        "/api/v1/leads/analytics/overview?since=2026-12-01T00:00:00Z&until=2026-11-01T00:00:00Z",
        headers=alice.headers,
    )
    assert bad.status_code == 422


def test_a_goals_results_are_listed_with_the_altered_query(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session
) -> None:
    goal_id = client.post(
        "/api/v1/leads/goals", json={"goal": "Find plumbers"}, headers=alice.headers
    ).get_json()["goal"]["id"]
    leads.store_results(
        session=session,
        goal_id=goal_id,
        query="plumbr austin",
        altered_query="plumber austin",
        results=[
            leads.FoundResult("https://b.example/", "B", "", 1),
            leads.FoundResult("https://a.example/", "A", "", 0),
            leads.FoundResult("https://a.example/", "A again", "", 5),  # seen: kept once
        ],
    )
    session.commit()

    mine = client.get(f"/api/v1/leads/goals/{goal_id}/results", headers=alice.headers)
    theirs = client.get(f"/api/v1/leads/goals/{goal_id}/results", headers=bob.headers)

    assert [(r["url"], r["rank"]) for r in mine.get_json()["items"]] == [
        ("https://a.example/", 0),
        ("https://b.example/", 1),
    ]
    assert mine.get_json()["items"][0]["altered_query"] == "plumber austin"
    assert theirs.status_code == 404


def test_a_report_starts_its_job_and_downloads_once_ready(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session, tx_platform: Platform
) -> None:
    started = client.post(
        "/api/v1/leads/analytics/reports", json={"format": "csv"}, headers=alice.headers
    )
    assert started.status_code == 202
    report_id = started.get_json()["report"]["id"]
    assert started.get_json()["job"]["kind"] == "leads.report"
    url = f"/api/v1/leads/analytics/reports/{report_id}/download"
    assert client.get(url, headers=alice.headers).status_code == 409  # not written yet

    stored = storage(tx_platform.settings).put(
        f"leads/test/{report_id}.csv", io.BytesIO(b"domain\\r\\nacme.example\\r\\n")
    )
    leads.mark_ready(
        session=session, report_id=report_id, storage_key=stored.key, size=stored.size, rows=1
    )
    session.commit()
    download = client.get(url, headers=alice.headers)

    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    assert download.headers["Content-Disposition"].startswith('attachment; filename="leads-')
    assert download.data == b"domain\\r\\nacme.example\\r\\n"
    assert client.get(url, headers=bob.headers).status_code == 404
    storage(tx_platform.settings).delete(stored.key)


def test_notes_and_calls_join_the_leads_timeline_newest_first(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    lead_id = a_lead(client, alice, "acme.example").get_json()["id"]
    url = f"/api/v1/leads/{lead_id}/interactions"

    call = client.post(
        url,
        json={"kind": "call", "body": "Spoke to Jane", "happened_at": "2026-12-01T10:00:00Z"},
        headers=alice.headers,
    )
    note = client.post(url, json={"kind": "note", "body": "Wants a demo"}, headers=alice.headers)
    refused = client.post(url, json={"kind": "note", "body": "x"}, headers=bob.headers)
    bad = client.post(url, json={"kind": "fax", "body": "x"}, headers=alice.headers)

    assert (call.status_code, note.status_code, refused.status_code, bad.status_code) == (
        201,
        201,
        404,
        422,
    )
    timeline = client.get(f"/api/v1/leads/{lead_id}", headers=alice.headers).get_json()["timeline"]
    assert [(t["kind"], t["body"]) for t in timeline] == [
        ("note", "Wants a demo"),
        ("call", "Spoke to Jane"),
    ]
    assert timeline[0]["actor_id"] == str(alice.user.id)


def test_a_csv_upload_is_stored_under_the_organization_and_imported_by_a_job(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    answer = client.post(
        "/api/v1/leads/import",
        data={"file": (io.BytesIO(b"domain\r\nacme.example\r\n"), "leads.csv")},
        headers=alice.headers,
        content_type="multipart/form-data",
    )

    assert answer.status_code == 202
    job = session.get_one(Job, answer.get_json()["job"]["id"])
    assert job.kind == "leads.import"
    org_id = org_of(session, alice.user.id)
    assert job.params["key"].startswith(f"leads/{org_id}/imports/")
    with storage(tx_platform.settings).open(job.params["key"]) as stored:
        assert stored.read() == b"domain\r\nacme.example\r\n"
    storage(tx_platform.settings).delete(job.params["key"])
    missing = client.post("/api/v1/leads/import", data={}, headers=alice.headers)
    assert missing.status_code in (400, 422)


def test_members_are_told_of_changes_others_make_to_the_organizations_leads(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    colleague = org_member(tx_platform, session, org_id)
    colleague.headers = colleague.with_headers(X_Organization_ID=str(org_id))
    lead_id = a_lead(client, alice, "acme.example").get_json()["id"]
    client.patch(
        f"/api/v1/leads/{lead_id}", json={"status": "qualified"}, headers=colleague.headers
    )
    client.patch(f"/api/v1/leads/{lead_id}", json={"tags": ["hot"]}, headers=alice.headers)

    told = client.get("/api/v1/leads/notifications", headers=alice.headers).get_json()["items"]
    theirs = client.get("/api/v1/leads/notifications", headers=colleague.headers).get_json()

    assert [(n["domain"], n["fields"], n["after"]) for n in told] == [
        ("acme.example", ["status"], {"status": "qualified"})
    ]
    assert told[0]["actor_id"] == str(colleague.user.id)
    assert [n["fields"] for n in theirs["items"]][0] == ["tags"]  # alice's, newest first
    older = client.get(
        f"/api/v1/leads/notifications?before={theirs['items'][0]['id']}", headers=colleague.headers
    ).get_json()["items"]
    assert all(n["id"] < theirs["items"][0]["id"] for n in older) and len(older) == 1


def test_a_leaving_members_name_goes_from_goals_history_and_timeline_which_stay(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    client.post("/api/v1/leads/goals", json={"goal": "Find roofers"}, headers=alice.headers)
    lead_id = a_lead(client, alice, "acme.example").get_json()["id"]
    client.post(
        f"/api/v1/leads/{lead_id}/interactions",
        json={"kind": "note", "body": "hi"},
        headers=alice.headers,
    )
    person = Person(user_id=alice.user.id, email=alice.user.email)
    exported = export_person(session=session, person=person)["leads"]

    erase_person(session=session, person=person)
    session.commit()

    assert exported["goals"][0]["goal"] == "Find roofers"
    assert exported["timeline_entries"][0]["body"] == "hi"
    # The organisation keeps them all, naming no one.
    [entry] = leads.timeline_of(session=session, lead_id=lead_id)
    assert (entry.body, entry.actor_id) == ("hi", None)
    assert all(c.actor_id is None for c in leads.history_of(session=session, lead_id=lead_id))
    assert session.scalars(select(leads.Goal.created_by)).all() == [None]


SCHEDULES = "/api/v1/leads/analytics/reports/schedules"


def test_a_report_schedule_is_created_listed_and_deleted_in_its_organization_only(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    created = client.post(
        SCHEDULES, json={"frequency": "weekly", "format": "xlsx"}, headers=alice.headers
    )
    assert created.status_code == 201
    schedule = created.get_json()
    assert (schedule["frequency"], schedule["format"]) == ("weekly", "xlsx")
    assert schedule["created_by"] == str(alice.user.id)
    again = client.post(
        SCHEDULES, json={"frequency": "weekly", "format": "xlsx"}, headers=alice.headers
    )
    assert again.status_code == 409  # the same report is scheduled once

    mine = client.get(SCHEDULES, headers=alice.headers).get_json()["items"]
    theirs = client.get(SCHEDULES, headers=bob.headers).get_json()["items"]
    assert [s["id"] for s in mine] == [schedule["id"]]
    assert theirs == []

    item = f"{SCHEDULES}/{schedule['id']}"
    assert client.delete(item, headers=bob.headers).status_code == 404  # another org's id
    assert client.delete(item, headers=alice.headers).status_code == 204
    assert client.get(SCHEDULES, headers=alice.headers).get_json()["items"] == []
    assert client.delete(item, headers=alice.headers).status_code == 404


def test_a_bad_report_schedule_is_refused_and_nothing_is_stored(
    client: FlaskClient, alice: Caller
) -> None:
    for body, field in (
        ({"frequency": "daily", "format": "csv"}, "frequency"),
        ({"frequency": "weekly"}, "format"),
    ):
        refused = client.post(SCHEDULES, json=body, headers=alice.headers)
        assert refused.status_code == 422
        assert set(refused.get_json()["details"]["fields"]) == {field}
    assert client.get(SCHEDULES, headers=alice.headers).get_json()["items"] == []
