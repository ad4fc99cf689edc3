"""SMTP: hand messages to the configured server (SMTP_HOST, STARTTLS and login if set).

`deliver` sends one message on a connection of its own (the `email.send` job kind); its errors
are smtplib's, which workers/core/errors.py classifies: 4xx replies and lost connections are
transient (retried), 5xx replies permanent.

`SmtpTransport` is the campaign sender (workers/clients/mailer.py): it keeps one session open
and sends mail after mail on it, opening a new one when the server dropped it. It speaks the
envelope itself (MAIL, RCPT, DATA) to know which step a reply belongs to: a refusal at RCPT is
the recipient's (550 5.1.1 "user unknown" is a hard bounce), one at MAIL is the sender's.
"""

from __future__ import annotations

import re
import smtplib
import socket
import threading
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, parseaddr
from typing import Any

from config import Settings
from workers.clients.mailer import MailAccountRefused, MailDeferred, MailRejected, OutgoingMail


def connect(settings: Settings) -> smtplib.SMTP:
    """A session with the configured server, TLS and login done."""
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s)
    try:
        smtp.ehlo_or_helo_if_needed()
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def deliver(settings: Settings, message: EmailMessage) -> dict[str, Any]:
    """Send `message`; its Message-ID and the refused recipients, if some were."""
    with connect(settings) as smtp:
        refused = smtp.send_message(message)
    return {"message_id": message["Message-ID"], "refused": sorted(refused)}


# Enhanced status codes (RFC 3463) saying the address itself is bad: 5.1.x (no such user,
# bad domain, bad syntax) and 5.2.1 (mailbox disabled). 5.2.2 (mailbox full) and 5.7.x
# (policy, spam) are refusals of this message, not of the address.
_HARD_STATUS = re.compile(r"^\s*5\.(1\.\d+|2\.1)\b")
_ANY_STATUS = re.compile(r"^\s*\d\.\d{1,3}\.\d{1,3}\b")
_HARD_CODES = (550, 551, 553)
_LOST = (smtplib.SMTPServerDisconnected, ConnectionError, socket.timeout, TimeoutError, OSError)


def is_hard_bounce(code: int, text: str) -> bool:
    """Whether a 5xx reply to RCPT (or DATA) says the recipient does not exist."""
    if _HARD_STATUS.match(text):
        return True
    return code in _HARD_CODES and not _ANY_STATUS.match(text)


def build_message(mail: OutgoingMail) -> EmailMessage:
    """The MIME message of `mail`: text, and HTML as the alternative when there is one."""
    message = EmailMessage()
    message["From"] = mail.sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{mail.bare_message_id}>"
    for name, value in mail.headers.items():
        message[name] = value
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    return message


class SmtpTransport:
    """The campaign sender over SMTP: one session, reused; safe to share between threads
    (sends take turns on the session)."""

    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._lock = threading.Lock()
        self.connections = 0  # sessions opened so far (a reused one counts once)

    def send(self, mail: OutgoingMail) -> str:
        try:
            message = build_message(mail)
            data = message.as_bytes(policy=SMTP)
            sender = _envelope_address(mail.sender)
            recipient = _envelope_address(mail.to)
        except (ValueError, TypeError, IndexError, MessageError) as exc:  # injection, address
            raise MailRejected(f"not a sendable message: {exc}") from exc
        with self._lock:
            reused = self._smtp is not None
            try:
                self._envelope(sender, recipient, data)
            except _Retry:
                if not reused:
                    raise MailDeferred("the SMTP server closed the connection") from None
                # The server closed a session idle on our side: nothing was sent, open anew.
                try:
                    self._envelope(sender, recipient, data)
                except _Retry:
                    raise MailDeferred("the SMTP server closed the connection") from None
        return str(message["Message-ID"])

    def close(self) -> None:
        with self._lock:
            self._drop(quit=True)

    def _session(self) -> smtplib.SMTP:
        if self._smtp is None:
            try:
                self._smtp = connect(self._settings)
            except smtplib.SMTPAuthenticationError as exc:
                raise MailAccountRefused(_text(exc.smtp_error), code=exc.smtp_code) from exc
            except smtplib.SMTPNotSupportedError as exc:  # no STARTTLS or AUTH on offer
                raise MailAccountRefused(f"the SMTP server cannot: {exc}") from exc
            except smtplib.SMTPResponseException as exc:
                raise _refusal(exc.smtp_code, _text(exc.smtp_error), account=True) from exc
            except (smtplib.SMTPException, *_LOST) as exc:
                raise MailDeferred(f"cannot reach the SMTP server: {exc}") from exc
            self.connections += 1
        return self._smtp

    def _envelope(self, sender: str, recipient: str, data: bytes) -> None:
        """MAIL, RCPT, DATA on the session; _Retry if it was found closed before DATA."""
        smtp = self._session()
        try:
            code, reply = smtp.mail(sender)
            if code != 250:
                self._reset()
                raise _refusal(code, _text(reply), account=True)
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                self._reset()
                raise _refusal(code, _text(reply), recipient=True)
        except _LOST:
            self._drop()
            raise _Retry() from None
        try:
            code, reply = smtp.data(data)
        except smtplib.SMTPDataError as exc:
            self._reset()
            raise _refusal(exc.smtp_code, _text(exc.smtp_error), recipient=True) from exc
        except _LOST as exc:
            # The message may or may not have been taken: the caller's retry decides (the
            # same Message-ID goes again).
            self._drop()
            raise MailDeferred(f"the SMTP connection was lost during DATA: {exc}") from exc

    def _reset(self) -> None:
        """End a refused transaction so that the session can carry the next mail."""
        if self._smtp is None:
            return
        try:
            self._smtp.rset()
        except (smtplib.SMTPException, *_LOST):
            self._drop()

    def _drop(self, quit: bool = False) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if quit:
                smtp.quit()
        except (smtplib.SMTPException, *_LOST):
            pass
        finally:
            smtp.close()


class _Retry(Exception):
    """The session was closed before the message left: send again on a new one."""


def _refusal(
    code: int, text: str, *, recipient: bool = False, account: bool = False
) -> MailRejected | MailDeferred:
    if 400 <= code < 500:
        return MailDeferred(text, code=code, throttled=True)
    if account:
        return MailAccountRefused(text, code=code)
    return MailRejected(text, code=code, hard_bounce=recipient and is_hard_bounce(code, text))


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _envelope_address(value: str) -> str:
    """The bare address of "Name <addr>" or "addr", checked."""
    _, address = parseaddr(value)
    if "@" not in address or not address.isascii():  # no SMTPUTF8 here
        raise ValueError(f"not an e-mail address: {value!r}")
    Address(addr_spec=address)  # raises on a malformed address
    return address
