"""The SMTP transport against a real SMTP server: one connection for many mails, a refused
recipient told apart from a deferral, and a dropped connection opened anew."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from config import Settings
from tests.smtp import SmtpServer, free_port
from workers.clients.mailer import (
    MailAccountRefused,
    MailDeferred,
    MailRejected,
    OutgoingMail,
    transport_for,
)
from workers.clients.smtp import SmtpTransport, is_hard_bounce


@pytest.fixture()
def sink() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def transport(settings: Settings, sink: SmtpServer) -> Iterator[SmtpTransport]:
    transport = SmtpTransport(settings.replace(smtp_port=sink.port))
    yield transport
    transport.close()


def mail(to: str, n: int = 0, **changes: object) -> OutgoingMail:
    values: dict[str, object] = {
        "sender": "Backline <news@backline.test>",
        "to": to,
        "subject": f"Spring tour {n}",
        "text": "We play Lisbon on May 3.",
        "html": "<p>We play <b>Lisbon</b> on May 3.</p>",
        "headers": {
            "List-Unsubscribe": "<https://backline.test/u/abc>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        "message_id": f"c1.r{n}@backline.test",
        "tags": {"campaign": "c1"},
    }
    values.update(changes)
    return OutgoingMail(**values)  # type: ignore[arg-type]


def test_many_mails_go_over_one_connection(transport: SmtpTransport, sink: SmtpServer) -> None:
    ids = [transport.send(mail(f"fan{n}@example.test", n)) for n in range(25)]

    assert ids == [f"<c1.r{n}@backline.test>" for n in range(25)]
    assert len(sink.messages) == 25
    assert len(set(sink.peers)) == 1  # one connection carried them all
    first = sink.to("fan0@example.test")[0]
    assert first["Message-ID"] == "<c1.r0@backline.test>"
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first["From"] == "Backline <news@backline.test>"
    parts = {part.get_content_type() for part in first.walk()}
    assert {"text/plain", "text/html"} <= parts


def test_a_refused_recipient_is_a_hard_bounce_and_the_connection_goes_on(
    transport: SmtpTransport, sink: SmtpServer
) -> None:
    transport.send(mail("before@example.test", 1))
    with pytest.raises(MailRejected) as refused:
        transport.send(mail("nobody@bounce.test", 2))
    assert refused.value.code == 550
    assert "User unknown" in refused.value.reason
    assert refused.value.hard_bounce
    transport.send(mail("after@example.test", 3))

    assert [m["To"] for m in sink.messages] == ["before@example.test", "after@example.test"]
    assert len(set(sink.peers)) == 1


def test_a_4xx_reply_defers_the_mail_and_asks_to_slow_down(
    transport: SmtpTransport, sink: SmtpServer
) -> None:
    with pytest.raises(MailDeferred) as deferred:
        transport.send(mail("fan@greylist.test", 1))
    assert deferred.value.code == 451
    assert deferred.value.throttled
    assert transport.send(mail("fan@greylist.test", 1)) == "<c1.r1@backline.test>"
    assert len(sink.to("fan@greylist.test")) == 1


def test_a_connection_the_server_closed_is_opened_again(
    transport: SmtpTransport, sink: SmtpServer
) -> None:
    sink.hang_up = True
    for n in range(3):
        transport.send(mail(f"fan{n}@example.test", n))
        time.sleep(0.2)  # the server hangs up while the connection is idle

    assert len(sink.messages) == 3
    assert len(set(sink.peers)) == 3


def test_an_unreachable_server_defers(settings: Settings) -> None:
    transport = SmtpTransport(settings.replace(smtp_port=free_port(), smtp_timeout_s=2.0))
    with pytest.raises(MailDeferred):
        transport.send(mail("fan@example.test"))


def test_a_header_that_would_inject_lines_is_refused_before_sending(
    transport: SmtpTransport, sink: SmtpServer
) -> None:
    with pytest.raises(MailRejected) as refused:
        transport.send(mail("fan@example.test", headers={"X-Evil": "a\r\nBcc: x@evil.test"}))
    assert refused.value.code is None
    with pytest.raises(MailRejected):
        transport.send(mail("not an address"))
    with pytest.raises(MailRejected):
        transport.send(mail("fän@exämple.test"))  # would need SMTPUTF8
    assert sink.messages == []


def test_only_an_unknown_address_is_a_hard_bounce() -> None:
    assert is_hard_bounce(550, "5.1.1 User unknown")
    assert is_hard_bounce(550, "No such user here")
    assert is_hard_bounce(554, "5.1.2 Bad destination domain")
    assert not is_hard_bounce(550, "5.7.1 Message rejected as spam")
    assert not is_hard_bounce(552, "5.2.2 Mailbox full")


def test_a_refused_login_refuses_the_account(settings: Settings, sink: SmtpServer) -> None:
    # The sink offers no AUTH: logging in cannot succeed, whatever the mail.
    transport = SmtpTransport(
        settings.replace(smtp_port=sink.port, smtp_username="u", smtp_password="p")
    )
    with pytest.raises(MailAccountRefused):
        transport.send(mail("fan@example.test"))


def test_the_deployment_chooses_the_transport(settings: Settings) -> None:
    assert transport_for(settings).name == "smtp"
    resend = transport_for(settings.replace(mail_provider="resend"))
    assert resend.name == "resend"
    resend.close()
