"""Campaigns over HTTP with a real worker, the mail read at the SMTP sink: fans and leads,
one mail per recipient, the unsubscribe headers and link, refusals recorded as failures and
hard bounces suppressed, pause, resume and cancel."""

from __future__ import annotations

import time
import uuid
from email.message import Message

import redis
from sqlalchemy import update

from models.mail.tables import Campaign
from tests.worker.conftest import submit_job, wait_for
from tests.worker.mail.conftest import Stack
from workers.clients.mail_pacing import MailPacer


def body_of(message: Message, kind: str = "text/plain") -> str:
    for part in message.walk():
        if part.get_content_type() == kind:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError(f"no {kind} part")


def finished(campaign: dict[str, object]) -> bool:
    return campaign["status"] == "finished"


def test_a_fan_campaign_reaches_each_consenting_fan_once_with_one_click_unsubscribe(
    stack: Stack,
) -> None:
    auth, _, org_id = stack.caller()
    vip = stack.fans(org_id, 5, tags=["vip"], country="GB")
    other = stack.fans(org_id, 2, tags=["casual"])
    silent = stack.fans(org_id, 1, tags=["vip"], consent=False)
    campaign = stack.campaign(auth, audience={"source": "fans", "tags": ["vip"]})

    stack.send_now(auth, campaign["id"])
    done = stack.wait(auth, campaign["id"], finished)

    assert done["progress"]["total"] == 5
    assert done["progress"]["sent"] == 5
    for address in vip:
        [mail] = stack.mails_to(address)
        assert mail["Subject"].startswith("Hi Fan")
        unsubscribe = " ".join(mail["List-Unsubscribe"].split())  # unfolded
        assert unsubscribe.startswith("<https://backline.example/api/v1/mail/u/")
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = body_of(mail)
        assert "Hello Fan" in text
        assert "Unsubscribe: https://backline.example/api/v1/mail/u/" in text
        html = body_of(mail, "text/html")
        assert ">Unsubscribe</a>" in html
        assert "https://backline.example/api/v1/mail/c/" in html  # the link is tracked
        assert 'href="https://tickets.example.com/a"' not in html
    for address in other + silent:
        assert stack.mails_to(address) == []


def test_a_lead_campaign_mails_each_address_and_skips_a_stale_invalid_one_with_the_reason(
    stack: Stack,
) -> None:
    auth, _, _ = stack.caller()
    tag = uuid.uuid4().hex[:6]
    good = [f"anna-{tag}@example.com", f"bo-{tag}@example.net"]
    dead = f"cy-{tag}@nowhere-{tag}.com"  # its domain takes no mail: checked before sending
    for domain, emails in (("one", good[:1]), ("two", [good[1], dead])):
        answer = stack.client.post(
            "/api/v1/leads",
            json={"domain": f"{domain}-{tag}.com", "company_name": "Acme", "emails": emails},
            headers=auth,
        )
        assert answer.status_code == 201, answer.json
    campaign = stack.campaign(
        auth,
        subject="A note for {{ recipient.company_name }}",
        text_body="Hello {{ recipient.company_name }} at {{ recipient.domain }}",
        html_body=None,
        audience={"source": "leads", "status": ["new"]},
    )

    stack.send_now(auth, campaign["id"])
    done = stack.wait(auth, campaign["id"], finished)

    assert (done["progress"]["total"], done["progress"]["sent"]) == (3, 2)
    assert done["progress"]["skipped"] == 1
    for address in good:
        [mail] = stack.mails_to(address)
        assert mail["Subject"] == "A note for Acme"
    assert stack.mails_to(dead) == []
    answer = stack.client.get(f"/api/v1/mail/campaigns/{campaign['id']}/failures", headers=auth)
    [failure] = answer.json["items"]
    assert failure["email"] == dead
    assert failure["status"] == "skipped"
    assert failure["reason"].startswith("invalid address: the domain takes no mail")


def test_a_refusal_at_send_time_is_a_failure_with_the_reason_and_suppresses_the_address(
    stack: Stack,
) -> None:
    auth, _, org_id = stack.caller()
    fans = stack.fans(org_id, 2)
    bounced = f"gone-{uuid.uuid4().hex[:6]}@bounce.test"  # the sink answers 550 5.1.1
    stack.fan(org_id, bounced)
    first = stack.campaign(auth)
    stack.send_now(auth, first["id"])
    done = stack.wait(auth, first["id"], finished)

    assert (done["progress"]["sent"], done["progress"]["failed"]) == (2, 1)
    assert done["progress"]["bounced"] == 1
    failures = stack.client.get(
        f"/api/v1/mail/campaigns/{first['id']}/failures", headers=auth
    ).json["items"]
    assert [(f["email"], f["status"]) for f in failures] == [(bounced, "failed")]
    assert "550" in failures[0]["reason"]
    suppressed = stack.client.get("/api/v1/mail/suppressions", headers=auth).json["items"]
    assert [(s["email"], s["reason"]) for s in suppressed] == [(bounced, "hard_bounce")]

    second = stack.campaign(auth, name="Again")
    stack.send_now(auth, second["id"])
    again = stack.wait(auth, second["id"], finished)

    assert (again["progress"]["sent"], again["progress"]["skipped"]) == (2, 1)
    [skipped] = stack.client.get(
        f"/api/v1/mail/campaigns/{second['id']}/failures", headers=auth
    ).json["items"]
    assert skipped["reason"] == "suppressed: hard_bounce"
    for address in fans:
        assert len(stack.mails_to(address)) == 2


def test_pause_stops_sending_within_a_second_and_resume_sends_the_rest_once_each(
    stack: Stack,
) -> None:
    auth, _, org_id = stack.caller()
    fans = stack.fans(org_id, 600)
    campaign = stack.campaign(auth, html_body=None)
    stack.send_now(auth, campaign["id"])
    stack.wait(auth, campaign["id"], lambda c: c["progress"]["sent"] >= 50, timeout_s=20)

    answer = stack.client.post(f"/api/v1/mail/campaigns/{campaign['id']}/pause", headers=auth)
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "paused"
    time.sleep(1.0)
    at_pause = sum(len(stack.mails_to(a)) for a in fans)
    time.sleep(1.0)
    paused = stack.read(auth, campaign["id"])

    assert sum(len(stack.mails_to(a)) for a in fans) == at_pause  # nothing went meanwhile
    assert paused["progress"]["sent"] == at_pause < 600
    assert paused["progress"]["pending"] == 600 - at_pause

    answer = stack.client.post(f"/api/v1/mail/campaigns/{campaign['id']}/resume", headers=auth)
    assert answer.status_code == 200, answer.json
    done = stack.wait(auth, campaign["id"], finished)

    assert done["progress"]["sent"] == 600
    assert sorted(len(stack.mails_to(a)) for a in fans) == [1] * 600


def test_cancel_stops_a_sending_campaign_and_what_did_not_go_is_cancelled(stack: Stack) -> None:
    auth, _, org_id = stack.caller()
    fans = stack.fans(org_id, 600)
    campaign = stack.campaign(auth, html_body=None)
    stack.send_now(auth, campaign["id"])
    stack.wait(auth, campaign["id"], lambda c: c["progress"]["sent"] >= 20, timeout_s=20)

    answer = stack.client.post(f"/api/v1/mail/campaigns/{campaign['id']}/cancel", headers=auth)
    assert answer.status_code == 200, answer.json
    time.sleep(1.0)
    done = stack.read(auth, campaign["id"])
    delivered = sum(len(stack.mails_to(a)) for a in fans)

    assert done["status"] == "cancelled"
    assert done["progress"]["sent"] == delivered < 600
    assert done["progress"]["cancelled"] == 600 - delivered
    assert done["progress"]["pending"] == 0
    assert (
        stack.client.post(
            f"/api/v1/mail/campaigns/{campaign['id']}/resume", headers=auth
        ).status_code
        == 409
    )


def test_pause_and_cancel_do_not_wait_out_a_providers_retry_after(stack: Stack) -> None:
    auth, _, org_id = stack.caller()
    fans = stack.fans(org_id, 300)
    campaign = stack.campaign(auth, html_body=None)
    stack.send_now(auth, campaign["id"])
    stack.wait(auth, campaign["id"], lambda c: c["progress"]["sent"] >= 20, timeout_s=20)
    # The provider says: nothing more for two minutes. Every sender now waits on the pace,
    # each holding the mail it took.
    settings = stack.platform.settings
    MailPacer.from_settings(settings).slow_down(120)
    try:
        time.sleep(1.5)
        before = sum(len(stack.mails_to(a)) for a in fans)
        started = time.monotonic()
        paused = stack.client.post(f"/api/v1/mail/campaigns/{campaign['id']}/pause", headers=auth)
        assert paused.status_code == 200, paused.json
        cancelled = stack.client.post(
            f"/api/v1/mail/campaigns/{campaign['id']}/cancel", headers=auth
        )
        assert cancelled.status_code == 200, cancelled.json
        assert time.monotonic() - started < 2.0  # not held behind the senders' locks
        # Within a few seconds the senders let go: what they held is cancelled too.
        done = stack.wait(
            auth, campaign["id"], lambda c: c["progress"]["pending"] == 0, timeout_s=5
        )
    finally:
        pace = f"{settings.broker_namespace}:mail-pace"  # the slow-down and its resume time
        redis.Redis.from_url(settings.redis_url).delete(f"{pace}:slow", f"{pace}:all")
    delivered = sum(len(stack.mails_to(a)) for a in fans)
    assert delivered == before  # nothing went while the provider said wait
    assert done["status"] == "cancelled"
    assert done["progress"]["sent"] == delivered
    assert done["progress"]["cancelled"] == 300 - delivered


def test_a_sender_run_again_on_a_sent_campaign_sends_no_second_mail(stack: Stack) -> None:
    auth, user_id, org_id = stack.caller()
    fans = stack.fans(org_id, 40)
    campaign = stack.campaign(auth, html_body=None)
    stack.send_now(auth, campaign["id"])
    # Duplicates of the run's senders, as a redelivered or retried batch would be: they
    # share the ledger with the first ones while they send.
    for _ in range(3):
        submit_job(
            stack.platform,
            user_id,
            "mail.campaign_send",
            {"campaign_id": campaign["id"], "run": 1},
        )
    stack.wait(auth, campaign["id"], finished)
    # And once it is done: the ledger says every mail went, so a sender sends nothing.
    with stack.platform.sessions.begin() as session:
        session.execute(
            update(Campaign).where(Campaign.id == campaign["id"]).values(status="sending")
        )
    job_id = submit_job(
        stack.platform, user_id, "mail.campaign_send", {"campaign_id": campaign["id"], "run": 1}
    )
    job = wait_for(stack.platform, job_id)

    assert job.result is not None and job.result["sent"] == 0
    assert sorted(len(stack.mails_to(a)) for a in fans) == [1] * 40
