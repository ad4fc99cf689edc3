"""Sequences over HTTP with a real worker: the trial mails on day 0, 3 and 6 with the days
left, which stop once the trial converts; an organisation's own sequence enrolled by hand, by
a confirmed fan and by a new lead, left on a reply; each step sent once at its due time."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from models.core.jobs import JobStatus
from models.mail.tables import Enrolment
from tests.worker.conftest import submit_job, wait_for
from tests.worker.mail.conftest import Stack
from web import create_app


def run_due_steps(stack: Stack, owner: uuid.UUID) -> dict[str, Any]:
    """Run the periodic job that sends due steps now, as the scheduler would at its slot."""
    job_id = submit_job(
        stack.platform, owner, "mail.sequence_due", {"slot": datetime.now(UTC).isoformat()}
    )
    job = wait_for(stack.platform, job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    return dict(job.result or {})


def days_pass(stack: Stack, org_id: uuid.UUID, days: int) -> None:
    """`days` go by: the trial's end comes closer and the enrolment's next step is due."""
    with stack.platform.sessions.begin() as session:
        session.execute(
            text(
                "UPDATE organizations SET trial_ends_at = trial_ends_at - make_interval(days => :d)"
                " WHERE id = :org"
            ),
            {"d": days, "org": org_id},
        )
        session.execute(
            update(Enrolment)
            .where(Enrolment.org_id == org_id)
            .values(next_due_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def test_the_trial_mails_go_on_day_0_and_3_with_the_days_left_and_stop_when_it_converts(
    stack: Stack,
) -> None:
    auth, user_id, _ = stack.caller()
    with stack.platform.sessions() as session:
        owner_email = session.scalar(
            text("SELECT email FROM users WHERE id = :id"), {"id": user_id}
        )
    trials = dataclasses.replace(
        stack.platform, settings=stack.platform.settings.replace(trial_days=7)
    )
    client: FlaskClient = create_app(platform=trials).test_client()
    answer = client.post("/api/v1/orgs", json={"name": "Trial Band"}, headers=auth)
    assert answer.status_code == 201, answer.json
    org_id = uuid.UUID(answer.json["id"])

    run_due_steps(stack, user_id)
    [day0] = stack.mails_to(owner_email)
    assert day0["Subject"] == "Welcome to Backline: 7 days of your trial left"
    assert "Trial Band is on a free trial: 7 days left" in day0.get_payload()

    run_due_steps(stack, user_id)  # nothing is due yet: nothing more is sent
    assert len(stack.mails_to(owner_email)) == 1

    days_pass(stack, org_id, 3)
    run_due_steps(stack, user_id)
    day3 = stack.mails_to(owner_email)[-1]
    assert day3["Subject"] == "4 days left in your Backline trial"

    # The organisation pays: the trial ends (as Stripe's checkout.session.completed does).
    with stack.platform.sessions.begin() as session:
        session.execute(
            text("UPDATE organizations SET tier = 'creator', trial_ends_at = NULL WHERE id = :o"),
            {"o": org_id},
        )
        session.execute(
            update(Enrolment)
            .where(Enrolment.org_id == org_id)
            .values(next_due_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    result = run_due_steps(stack, user_id)

    assert result == {"exited": 1}
    assert len(stack.mails_to(owner_email)) == 2
    with stack.platform.sessions() as session:
        enrolment = session.scalars(select(Enrolment).where(Enrolment.org_id == org_id)).one()
        assert (enrolment.status, enrolment.exit_reason) == ("exited", "trial converted")


def sequence(stack: Stack, auth: dict[str, str], **overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Welcome",
        "from_name": "The Band",
        "exit_on": ["unsubscribed", "replied"],
        "steps": [
            {"delay_s": 0, "subject": "Welcome {{ recipient.first_name }}", "text_body": "Hi!"},
            {"delay_s": 86400, "subject": "A day later", "text_body": "Still here?"},
        ],
        **overrides,
    }
    answer = stack.client.post("/api/v1/mail/sequences", json=body, headers=auth)
    assert answer.status_code == 201, answer.json
    return dict(answer.json)


def test_a_hand_enrolled_recipient_gets_each_step_once_and_leaves_on_a_reply(
    stack: Stack,
) -> None:
    auth, user_id, org_id = stack.caller()
    made = sequence(stack, auth)
    address = f"kim-{uuid.uuid4().hex[:6]}@example.com"
    answer = stack.client.post(
        f"/api/v1/mail/sequences/{made['id']}/enrolments",
        json={"email": address, "name": "Kim Lee"},
        headers=auth,
    )
    assert answer.status_code == 201, answer.json
    enrolment_id = answer.json["id"]
    again = stack.client.post(
        f"/api/v1/mail/sequences/{made['id']}/enrolments", json={"email": address}, headers=auth
    )
    assert again.status_code == 409

    run_due_steps(stack, user_id)
    run_due_steps(stack, user_id)
    [first] = stack.mails_to(address)
    assert first["Subject"] == "Welcome Kim"
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    answer = stack.client.post(
        f"/api/v1/mail/sequences/{made['id']}/enrolments/{enrolment_id}/exit",
        json={"reason": "replied"},
        headers=auth,
    )
    assert answer.json["status"] == "exited"
    days_pass(stack, org_id, 1)
    run_due_steps(stack, user_id)

    assert len(stack.mails_to(address)) == 1
    steps = stack.client.get(f"/api/v1/mail/sequences/{made['id']}", headers=auth).json["steps"]
    assert [s["stats"]["sent"] for s in steps] == [1, 0]


def test_a_new_lead_is_enrolled_in_the_lead_sequence_and_mailed_its_first_step(
    stack: Stack,
) -> None:
    auth, user_id, _ = stack.caller()
    sequence(
        stack,
        auth,
        trigger="lead_created",
        steps=[
            {
                "delay_s": 0,
                "subject": "Hello {{ recipient.company_name }}",
                "text_body": "We make records.",
            }
        ],
    )
    tag = uuid.uuid4().hex[:6]
    address = f"sales-{tag}@example.com"
    answer = stack.client.post(
        "/api/v1/leads",
        json={"domain": f"shop-{tag}.com", "company_name": "Shop", "emails": [address]},
        headers=auth,
    )
    assert answer.status_code == 201, answer.json

    run_due_steps(stack, user_id)

    [mail] = stack.mails_to(address)
    assert mail["Subject"] == "Hello Shop"
