"""The mail API without a worker: campaigns written, previewed and refused with the template's
line, states that refuse what they cannot do, another organisation's campaign a 404, a test
send queued, sequences written, links that do not verify."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.core.jobs import Job
from models.fans import Fan
from tests.api.conftest import Caller, caller, mailed_token, mails_to
from tests.api.fans.test_public import PAGE, app_with, sign_up
from tests.conftest import access_token, make_user, org_of
from workers.core.setup import Platform

CAMPAIGN: dict[str, Any] = {
    "name": "Spring tour",
    "subject": "Hi {{ recipient.first_name }}",
    "text_body": "Hello {{ recipient.name }} from {{ org.name }}",
    "html_body": "<p>Hello {{ recipient.name }}</p>",
    "from_name": "The Band",
    "audience": {"source": "fans", "country": "GB"},
}


def in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def create(client: FlaskClient, who: Caller, **overrides: Any) -> Any:
    return client.post(
        "/api/v1/mail/campaigns", json={**CAMPAIGN, **overrides}, headers=who.headers
    )


def test_a_campaign_is_a_draft_with_its_progress(client: FlaskClient, alice: Caller) -> None:
    answer = create(client, alice)

    assert answer.status_code == 201, answer.json
    assert answer.json["status"] == "draft"
    assert answer.json["progress"]["total"] == 0
    listed = client.get("/api/v1/mail/campaigns", headers=alice.headers).json["items"]
    assert [c["id"] for c in listed] == [answer.json["id"]]


def test_a_template_error_is_refused_with_its_line(client: FlaskClient, alice: Caller) -> None:
    answer = create(client, alice, text_body="Hello\n{{ recipient.name ")

    assert answer.status_code == 422
    assert answer.json["code"] == "validation_failed"
    assert "line 2" in answer.json["details"]["fields"]["text_body"][0]

    unknown = create(client, alice, subject="Hi {{ nobody.name }}")
    assert unknown.status_code == 422
    assert "'nobody' is undefined" in unknown.json["details"]["fields"]["subject"][0]

    unsafe = create(client, alice, html_body="{{ recipient.__class__.__mro__ }}")
    assert unsafe.status_code == 422


def test_the_preview_renders_for_the_audiences_first_recipient_and_escapes_html(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    org_id = org_of(session, alice.user.id)
    session.add(Fan(org_id=org_id, email="ann@example.com", name="Ann <b>Lee</b>", country="GB",
                    consent=True))  # fmt: skip
    session.commit()
    made = create(client, alice).json

    answer = client.post(
        f"/api/v1/mail/campaigns/{made['id']}/preview", json={}, headers=alice.headers
    )

    assert answer.status_code == 200, answer.json
    assert answer.json["subject"] == "Hi Ann"
    assert answer.json["text"].startswith("Hello Ann <b>Lee</b> from ")
    assert answer.json["html"] == "<p>Hello Ann &lt;b&gt;Lee&lt;/b&gt;</p>"
    assert answer.json["audience_count"] == 1


def test_another_organisations_campaign_is_not_found(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    made = create(client, alice).json

    for method, path in (
        ("get", ""),
        ("post", "/schedule"),
        ("post", "/pause"),
        ("post", "/cancel"),
        ("get", "/failures"),
    ):
        answer = getattr(client, method)(
            f"/api/v1/mail/campaigns/{made['id']}{path}",
            headers=bob.headers,
            **({"json": {}} if method == "post" else {}),
        )
        assert answer.status_code == 404, (path, answer.json)


def test_states_refuse_what_they_cannot_do(client: FlaskClient, alice: Caller) -> None:
    made = create(client, alice).json
    base = f"/api/v1/mail/campaigns/{made['id']}"

    assert client.post(f"{base}/pause", headers=alice.headers).status_code == 409
    assert client.post(f"{base}/resume", headers=alice.headers).status_code == 409
    scheduled = client.post(
        f"{base}/schedule", json={"send_at": in_days(30)}, headers=alice.headers
    )
    assert scheduled.json["status"] == "scheduled"
    assert client.patch(base, json={"name": "x"}, headers=alice.headers).status_code == 409
    cancelled = client.post(f"{base}/cancel", headers=alice.headers)
    assert cancelled.json["status"] == "cancelled"
    assert client.post(f"{base}/cancel", headers=alice.headers).status_code == 409


def test_sending_needs_a_confirmed_address(
    client: FlaskClient, tx_platform: Platform, session: Session
) -> None:
    user = make_user(session, verified=False)
    session.commit()
    who = Caller(user, access_token(tx_platform, session, user))
    made = create(client, who).json

    answer = client.post(f"/api/v1/mail/campaigns/{made['id']}/schedule", json={},
                         headers=who.headers)  # fmt: skip

    assert answer.status_code == 403
    assert answer.json["code"] == "email_not_verified"


def test_a_test_send_queues_the_rendered_mail_to_the_test_addresses(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    made = create(client, alice).json

    answer = client.post(
        f"/api/v1/mail/campaigns/{made['id']}/test",
        json={"to": [alice.user.email]},
        headers=alice.headers,
    )

    assert answer.status_code == 202, answer.json
    job = session.scalars(select(Job).where(Job.id == answer.json["job_id"])).one()
    assert job.kind == "email.send"
    assert job.params["to"] == [alice.user.email]
    assert job.params["subject"] == "[Test] Hi Sam"


def test_a_sequence_is_written_with_its_steps_and_refused_with_a_bad_step(
    client: FlaskClient, alice: Caller, tx_platform: Platform, session: Session
) -> None:
    body = {
        "name": "Welcome",
        "from_name": "The Band",
        "trigger": "fan_confirmed",
        "steps": [
            {"delay_s": 0, "subject": "Welcome", "text_body": "Hi {{ recipient.name }}"},
            {"delay_s": 259200, "subject": "Day 3", "text_body": "Still here?"},
        ],
    }
    answer = client.post("/api/v1/mail/sequences", json=body, headers=alice.headers)
    assert answer.status_code == 201, answer.json
    assert [s["delay_s"] for s in answer.json["steps"]] == [0, 259200]

    body["steps"][1]["text_body"] = "{% if %}"
    bad = client.post("/api/v1/mail/sequences", json=body, headers=alice.headers)
    assert bad.status_code == 422
    other = caller(tx_platform, session)
    seen = client.get(f"/api/v1/mail/sequences/{answer.json['id']}", headers=other.headers)
    assert seen.status_code == 404


def test_links_that_do_not_verify_are_not_found(client: FlaskClient) -> None:
    assert client.get("/api/v1/mail/u/MTI.bm9wZQ").status_code == 404
    assert (
        client.post("/api/v1/mail/u/MTI.bm9wZQ", data="List-Unsubscribe=One-Click").status_code
        == 404
    )
    assert client.get("/api/v1/mail/c/MTIgaHR0cHM6Ly9ldmlsLmV4YW1wbGU.bm9wZQ").status_code == 404
    assert client.get("/api/v1/mail/o/MTI.bm9wZQ.gif").status_code == 404


def test_a_fan_who_confirms_is_enrolled_in_the_artists_fan_sequences(
    tx_platform: Platform, tmp_path: Path, alice: Caller, session: Session
) -> None:
    client = app_with(tx_platform, tmp_path).test_client()
    assert client.put("/api/v1/fans/page", json=PAGE, headers=alice.headers).status_code == 200
    made = client.post(
        "/api/v1/mail/sequences",
        json={
            "name": "Welcome",
            "from_name": "The Band",
            "trigger": "fan_confirmed",
            "steps": [{"delay_s": 0, "subject": "Welcome", "text_body": "Hi"}],
        },
        headers=alice.headers,
    ).json
    assert sign_up(client, "new.fan@example.com", name="New Fan").status_code == 202
    [mail] = mails_to(session, "new.fan@example.com")

    client.post("/api/v1/public/fans/confirm", json={"token": mailed_token(mail)})

    enrolled = client.get(
        f"/api/v1/mail/sequences/{made['id']}/enrolments", headers=alice.headers
    ).json["items"]
    assert [(e["email"], e["status"]) for e in enrolled] == [("new.fan@example.com", "active")]
