"""The mail API's guards: templates that cannot change what they are given nor run without
bounds, test sends only to the team, send times that can be stored and read, partial edits
that keep the audience whole, unsubscribe links that outlive their campaign, and headers that
cannot break a mail."""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from models.accounts.users import User
from models.core.access import Role
from models.mail import links, sequences
from models.mail.suppression import suppress, suppression_of
from models.mail.tables import Enrolment, Send, SuppressionReason
from models.orgs.organizations import join
from tests.api.conftest import PASSWORD, Caller, caller, mailed_token, mails_to, post
from tests.conftest import make_user, org_of
from web import create_app
from workers.core.setup import Platform
from workers.mail.engine import Sender

CAMPAIGN: dict[str, Any] = {
    "name": "Spring tour",
    "subject": "Hi {{ recipient.first_name }}",
    "text_body": "Hello {{ recipient.name }} from {{ org.name }}",
    "from_name": "The Band",
    "audience": {"source": "fans", "country": "GB"},
}


def create(client: FlaskClient, who: Caller, **overrides: Any) -> Any:
    return client.post(
        "/api/v1/mail/campaigns", json={**CAMPAIGN, **overrides}, headers=who.headers
    )


def test_a_template_cannot_change_the_sample_other_organisations_render_with(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    for body in ("{{ recipient.clear() }}", "{{ recipient.update({'first_name': 'X'}) }}",
                 "{{ recipient.tags.append('x') }}"):  # fmt: skip
        answer = create(client, alice, text_body=body)
        assert answer.status_code == 422, answer.json

    made = create(client, bob)
    assert made.status_code == 201, made.json
    preview = client.post(
        f"/api/v1/mail/campaigns/{made.json['id']}/preview", json={}, headers=bob.headers
    )
    assert preview.status_code == 200, preview.json
    assert preview.json["subject"] == "Hi Sam"
    assert preview.json["recipient"]["tags"] == ["vip"]


def test_a_template_past_a_cap_of_a_render_is_refused_naming_the_cap(
    client: FlaskClient, alice: Caller
) -> None:
    for body, cap in (
        ('{{ "x" * 10**10 }}', "MAX_VALUE"),
        ("{{ 9 ** 9999999 }}", "MAX_VALUE"),
        ('{% set s = "x" * 150000 %}{{ s ~ s }}', "MAX_VALUE"),
        ('{{ "x"|center(999999999) }}', "MAX_VALUE"),
        ('{{ "{:>999999999}".format(1) }}', "MAX_VALUE"),
        ("{% for i in range(100000) %}{% endfor %}", "MAX_RANGE"),
        ("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
         "MAX_STEPS"),
        ('{% for i in range(9000) %}{{ "x" * 100 }}{% endfor %}', "MAX_OUTPUT"),
    ):  # fmt: skip
        answer = create(client, alice, text_body=body)
        assert answer.status_code == 422, (body, answer.json)
        assert cap in answer.json["details"]["fields"]["text_body"][0], (body, answer.json)

    made = create(client, alice, text_body="{{ recipient.first_name * 1000 }}").json
    preview = client.post(
        f"/api/v1/mail/campaigns/{made['id']}/preview",
        json={"recipient": {"first_name": "x" * 500}},
        headers=alice.headers,
    )
    assert preview.status_code == 422
    assert "MAX_VALUE" in preview.json["details"]["fields"]["text_body"][0]
    fine = create(client, alice, text_body="{% for t in recipient.tags %}{{ t|upper }} {% endfor %}"
                  "{{ range(3)|join(',') }} {{ '%03d' % 7 }} {{ 2 ** 10 }}")  # fmt: skip
    assert fine.status_code == 201, fine.json
    assert fine.json["text_body"].startswith("{% for")


def test_a_test_send_goes_only_to_the_teams_confirmed_addresses_and_skips_suppressed_ones(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session
) -> None:
    org_id = org_of(session, alice.user.id)
    teammate = make_user(session)
    unconfirmed = make_user(session, verified=False)
    for user in (teammate, unconfirmed):
        join(session=session, org_id=org_id, user_id=user.id, role=Role.MEMBER)
    suppress(session=session, org_id=org_id, email=teammate.email,
             reason=SuppressionReason.UNSUBSCRIBED)  # fmt: skip
    session.commit()
    made = create(client, alice).json
    url = f"/api/v1/mail/campaigns/{made['id']}/test"

    for outsider in ("anyone@example.com", bob.user.email, unconfirmed.email):
        refused = client.post(url, json={"to": [alice.user.email, outsider]}, headers=alice.headers)
        assert refused.status_code == 422, refused.json
        assert outsider in refused.json["details"]["fields"]["to"][0]

    before = usage(client, alice, org_id)
    answer = client.post(url, json={"to": [alice.user.email.upper(), teammate.email]},
                         headers=alice.headers)  # fmt: skip
    assert answer.status_code == 202, answer.json
    assert answer.json["to"] == [alice.user.email]
    assert answer.json["skipped"] == [{"email": teammate.email, "reason": "unsubscribed"}]
    assert usage(client, alice, org_id) == before + 1

    nothing = client.post(url, json={"to": [teammate.email]}, headers=alice.headers)
    assert nothing.status_code == 202
    assert nothing.json["job_id"] is None


def usage(client: FlaskClient, who: Caller, org_id: Any) -> int:
    answer = client.get(f"/api/v1/orgs/{org_id}/usage", headers=who.headers)
    assert answer.status_code == 200, answer.json
    return int(answer.json["jobs_per_day"]["used"])


def test_test_sends_are_limited_per_user(tx_platform: Platform, session: Session) -> None:
    settings = tx_platform.settings.replace(rate_limit_mail_test="2/hour")
    client = create_app(platform=dataclasses.replace(tx_platform, settings=settings)).test_client()
    sender, other = (caller(tx_platform, session) for _ in range(2))

    def test_send(who: Caller) -> int:
        made = create(client, who).json
        url = f"/api/v1/mail/campaigns/{made['id']}/test"
        return client.post(url, json={"to": [who.user.email]}, headers=who.headers).status_code

    assert [test_send(sender) for _ in range(3)] == [202, 202, 429]
    assert test_send(other) == 202


def test_the_trial_mails_wait_for_the_owner_to_confirm_their_address(
    tx_platform: Platform, session: Session
) -> None:
    settings = tx_platform.settings.replace(trial_days=7)
    client = create_app(platform=dataclasses.replace(tx_platform, settings=settings)).test_client()
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": PASSWORD, "organization_name": "https://evil.example"}
    registered = post(client, "register", body)
    assert registered.status_code == 202

    def enrolments() -> list[Enrolment]:
        return list(session.scalars(select(Enrolment).where(Enrolment.email == email)))

    assert enrolments() == []
    # An enrolment made before the address was confirmed leaves at its next step.
    user = session.scalars(select(User).where(User.email == email)).one()
    org_id = org_of(session, user.id)
    trial = sequences.ensure_trial_sequence(session=session)
    early = sequences.enrol(session=session, sequence=trial, org_id=org_id, email=email,
                            recipient={})  # fmt: skip
    assert early is not None
    reason = sequences.exit_reason(session=session, enrolment=early, sequence=trial)
    assert reason == "not a member's confirmed address"
    session.delete(early)
    session.commit()

    [mail] = mails_to(session, email)
    verified = post(client, "verify-email", {"token": mailed_token(mail)})
    assert verified.status_code == 200, verified.json

    session.expire_all()
    [enrolment] = enrolments()
    assert (enrolment.org_id, enrolment.status) == (org_id, "active")
    assert sequences.exit_reason(session=session, enrolment=enrolment, sequence=trial) is None


def test_a_send_time_is_from_now_to_a_year_ahead_and_kept_in_utc(
    client: FlaskClient, alice: Caller
) -> None:
    made = create(client, alice).json
    url = f"/api/v1/mail/campaigns/{made['id']}/schedule"
    for send_at in ("9999-12-31T23:59:59-12:00", "9999-12-31T23:59:59+00:00",
                    "2020-01-01T09:00:00+00:00",
                    (datetime.now(UTC) + timedelta(days=400)).isoformat()):  # fmt: skip
        refused = client.post(url, json={"send_at": send_at}, headers=alice.headers)
        assert refused.status_code == 422, (send_at, refused.json)
        assert "send_at" in refused.json["details"]["fields"], refused.json

    when = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    local = when.astimezone(timezone(timedelta(hours=-5))).isoformat()
    scheduled = client.post(url, json={"send_at": local}, headers=alice.headers)
    assert scheduled.status_code == 200, scheduled.json
    assert datetime.fromisoformat(scheduled.json["send_at"]) == when
    assert scheduled.json["send_at"].endswith("+00:00")
    listed = client.get("/api/v1/mail/campaigns", headers=alice.headers)
    assert listed.status_code == 200


def test_an_edit_changes_whole_fields_and_an_audience_given_is_checked_whole(
    client: FlaskClient, alice: Caller
) -> None:
    made = create(client, alice).json
    url = f"/api/v1/mail/campaigns/{made['id']}"

    for audience in ({"status": "paid"}, {}, {"source": "nobody"}):
        refused = client.patch(url, json={"audience": audience}, headers=alice.headers)
        assert refused.status_code == 422, (audience, refused.json)

    renamed = client.patch(url, json={"subject": "Hello {{ recipient.name }}"},
                           headers=alice.headers)  # fmt: skip
    assert renamed.status_code == 200, renamed.json
    assert renamed.json["audience"]["source"] == "fans"
    moved = client.patch(url, json={"audience": {"source": "fans", "status": "paid"}},
                         headers=alice.headers)  # fmt: skip
    assert moved.status_code == 200, moved.json
    assert moved.json["audience"]["status"] == "paid"
    preview = client.post(f"{url}/preview", json={}, headers=alice.headers)
    assert preview.status_code == 200, preview.json


def test_a_campaign_that_sent_mail_is_not_deleted_and_its_unsubscribe_links_keep_working(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    sent, unsent = (create(client, alice).json for _ in range(2))
    for made in (sent, unsent):
        url = f"/api/v1/mail/campaigns/{made['id']}"
        client.post(f"{url}/schedule", json={"send_at": in_days(1)}, headers=alice.headers)
        assert client.post(f"{url}/cancel", headers=alice.headers).json["status"] == "cancelled"
    send_id = session.scalar(
        insert(Send)
        .values(org_id=org_id, campaign_id=uuid.UUID(sent["id"]), email="fan@example.com",
                recipient={}, status="sent", sent_at=datetime.now(UTC))
        .returning(Send.id)
    )  # fmt: skip
    session.commit()

    refused = client.delete(f"/api/v1/mail/campaigns/{sent['id']}", headers=alice.headers)
    assert refused.status_code == 409, refused.json
    assert client.delete(f"/api/v1/mail/campaigns/{unsent['id']}",
                         headers=alice.headers).status_code == 204  # fmt: skip

    token = links.unsubscribe_token(tx_platform.settings.jwt_secret, int(send_id or 0))
    answer = client.post(f"/api/v1/mail/u/{token}", data="List-Unsubscribe=One-Click")
    assert answer.status_code == 200
    assert suppression_of(session=session, org_id=org_id, email="fan@example.com") is not None


def in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def test_a_sender_name_or_subject_with_a_control_character_is_refused(
    client: FlaskClient, alice: Caller
) -> None:
    for char in ("\n", "\x0b", "\x0c", "\x1c", "\x85", "\x07"):
        for field in ("from_name", "subject"):
            answer = create(client, alice, **{field: f"The{char}Band"})
            assert answer.status_code == 422, (field, repr(char), answer.json)
            assert field in answer.json["details"]["fields"]
    steps = [{"delay_s": 0, "subject": "Hi\x0cthere", "text_body": "Hello"}]
    sequence = {"name": "Welcome", "from_name": "The Band", "steps": steps}
    assert client.post("/api/v1/mail/sequences", json=sequence,
                       headers=alice.headers).status_code == 422  # fmt: skip


def test_a_tracked_link_goes_to_the_address_the_html_means(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    made = create(client, alice).json
    send_id = session.scalar(
        insert(Send)
        .values(org_id=org_id, campaign_id=uuid.UUID(made["id"]), email="fan@example.com",
                recipient={}, status="sent", sent_at=datetime.now(UTC))
        .returning(Send.id)
    )  # fmt: skip
    session.commit()
    base = "https://backline.example"
    html = Sender._tracked_html(
        '<a href="https://tickets.example.com/buy?show=1&amp;seat=2">Tickets</a>',
        int(send_id or 0), base, tx_platform.settings.jwt_secret, f"{base}/u",
    )  # fmt: skip
    found = re.search(r'href="https://backline\.example(/api/v1/mail/c/[^"]+)"', html)
    assert found is not None, html

    answer = client.get(found.group(1))
    assert answer.status_code == 302
    assert answer.headers["Location"] == "https://tickets.example.com/buy?show=1&seat=2"
