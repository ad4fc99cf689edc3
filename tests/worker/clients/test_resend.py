"""The Resend transport against the fake, over real HTTP: ids, idempotency, and each kind
of refusal sorted into rejected (for good), deferred (later) or the account refused."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from config import Settings
from devstack.fakes import Served, serve
from devstack.fakes.resend import KEY, FakeResend
from tests.smtp import free_port
from workers.clients.mailer import (
    MailAccountRefused,
    MailDeferred,
    MailRejected,
    OutgoingMail,
    transport_for,
)
from workers.clients.resend import ResendTransport


@pytest.fixture()
def fake() -> Iterator[tuple[FakeResend, Served]]:
    app = FakeResend()
    served = serve(app)
    yield app, served
    served.stop()


def resend_settings(settings: Settings, url: str, key: str = KEY) -> Settings:
    return settings.replace(mail_provider="resend", resend_base_url=url, resend_api_key=key)


@pytest.fixture()
def transport(settings: Settings, fake: tuple[FakeResend, Served]) -> Iterator[ResendTransport]:
    _, served = fake
    transport = transport_for(resend_settings(settings, served.url))
    assert isinstance(transport, ResendTransport)
    yield transport
    transport.close()


def mail(to: str = "fan@example.test", n: int = 0, **changes: object) -> OutgoingMail:
    values: dict[str, object] = {
        "sender": "Backline <news@backline.test>",
        "to": to,
        "subject": "Spring tour",
        "text": "We play Lisbon on May 3.",
        "html": "<p>We play Lisbon on May 3.</p>",
        "headers": {"List-Unsubscribe": "<https://backline.test/u/abc>"},
        "message_id": f"<c1.r{n}@backline.test>",
        "tags": {"campaign": "c1", "org": "o7"},
    }
    values.update(changes)
    return OutgoingMail(**values)  # type: ignore[arg-type]


def test_a_mail_is_sent_with_its_parts_headers_tags_and_key(
    transport: ResendTransport, fake: tuple[FakeResend, Served]
) -> None:
    _, served = fake
    provider_id = transport.send(mail())

    sent = httpx.get(served.url + "/_fake/emails").json()["data"]
    assert [e["id"] for e in sent] == [provider_id]
    assert sent[0]["from"] == "Backline <news@backline.test>"
    assert sent[0]["to"] == ["fan@example.test"]
    assert sent[0]["html"] == "<p>We play Lisbon on May 3.</p>"
    assert sent[0]["headers"] == {"List-Unsubscribe": "<https://backline.test/u/abc>"}
    assert sent[0]["tags"] == [{"name": "campaign", "value": "c1"}, {"name": "org", "value": "o7"}]
    assert sent[0]["idempotency_key"] == "c1.r0@backline.test"


def test_the_same_mail_sent_again_is_sent_once(
    transport: ResendTransport, fake: tuple[FakeResend, Served]
) -> None:
    app, _ = fake
    first = transport.send(mail())
    again = transport.send(mail())

    assert again == first
    assert len(app.emails) == 1


def test_the_same_key_with_another_body_is_refused(
    transport: ResendTransport, fake: tuple[FakeResend, Served]
) -> None:
    app, _ = fake
    transport.send(mail())
    with pytest.raises(MailRejected) as refused:
        transport.send(mail(subject="Another subject"))
    assert refused.value.code == 409
    assert "invalid_idempotent_request" in refused.value.reason
    assert len(app.emails) == 1


def test_a_malformed_recipient_is_rejected(transport: ResendTransport) -> None:
    with pytest.raises(MailRejected) as refused:
        transport.send(mail(to="not-an-address"))
    assert refused.value.code == 422
    assert "Invalid `to` field" in refused.value.reason
    assert not refused.value.hard_bounce
    with pytest.raises(MailRejected) as bad_sender:
        transport.send(mail(sender="Backline <nowhere>"))
    assert "Invalid `from` field" in bad_sender.value.reason


def test_a_refused_recipient_is_rejected_and_the_next_goes(
    transport: ResendTransport, fake: tuple[FakeResend, Served]
) -> None:
    app, served = fake
    httpx.post(served.url + "/_fake/refuse", json={"address": "gone@example.test"})
    with pytest.raises(MailRejected) as refused:
        transport.send(mail("gone@example.test", 1))
    assert refused.value.code == 422
    transport.send(mail("here@example.test", 2))
    assert [e["to"] for e in app.emails] == [["here@example.test"]]


def test_429_defers_with_the_providers_wait(
    transport: ResendTransport, fake: tuple[FakeResend, Served]
) -> None:
    app, served = fake
    app.retry_after_s = 3
    httpx.post(served.url + "/_fake/script", json={"steps": ["429"]})
    with pytest.raises(MailDeferred) as deferred:
        transport.send(mail())
    assert deferred.value.code == 429
    assert deferred.value.retry_after == 3.0
    assert deferred.value.retry_after_s == 3.0  # what the job platform's retry waits for
    assert deferred.value.throttled
    assert app.emails == []
    transport.send(mail())  # then it goes
    assert len(app.emails) == 1


def test_5xx_defers_without_slowing(
    transport: ResendTransport, fake: tuple[FakeResend, Served]
) -> None:
    app, _ = fake
    app.script.append("500")
    with pytest.raises(MailDeferred) as deferred:
        transport.send(mail())
    assert deferred.value.code == 500
    assert not deferred.value.throttled


def test_above_its_rate_the_provider_answers_429(
    transport: ResendTransport, fake: tuple[FakeResend, Served]
) -> None:
    app, served = fake
    httpx.post(served.url + "/_fake/rate", json={"requests_per_s": 2})
    transport.send(mail(n=1))
    transport.send(mail(n=2))
    with pytest.raises(MailDeferred) as deferred:
        transport.send(mail(n=3))
    assert deferred.value.code == 429
    assert deferred.value.retry_after is not None
    assert len(app.emails) == 2


def test_a_wrong_key_refuses_the_account(
    settings: Settings, fake: tuple[FakeResend, Served]
) -> None:
    _, served = fake
    transport = ResendTransport(resend_settings(settings, served.url, key="re_wrong"))
    with pytest.raises(MailAccountRefused) as refused:
        transport.send(mail())
    assert refused.value.code == 403
    transport.close()


def test_an_unreachable_provider_defers(settings: Settings) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    transport = ResendTransport(resend_settings(settings, url))
    with pytest.raises(MailDeferred):
        transport.send(mail())
    transport.close()


def test_a_sent_mail_can_be_read_back(
    transport: ResendTransport, fake: tuple[FakeResend, Served]
) -> None:
    _, served = fake
    provider_id = transport.send(mail())
    answer = httpx.get(
        f"{served.url}/emails/{provider_id}", headers={"authorization": f"Bearer {KEY}"}
    ).json()
    assert answer["object"] == "email"
    assert answer["subject"] == "Spring tour"
