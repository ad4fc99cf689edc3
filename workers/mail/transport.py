"""INTERIM: the transport contract of workers/clients/mailer.py (being built on its own
branch), over today's SMTP settings, so the engine runs until that lands. Deleted at the
rebase: the engine then imports workers.clients.mailer and workers.clients.mail_pacing."""

from __future__ import annotations

import contextlib
import smtplib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate

from config import Settings
from workers.core.errors import PermanentError, TransientError


@dataclass(frozen=True)
class OutgoingMail:
    sender: str
    to: str
    subject: str
    text: str
    html: str | None
    headers: Mapping[str, str]
    message_id: str
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def recipient_domain(self) -> str:
        return self.to.rpartition("@")[2].lower()


class MailRejected(PermanentError):
    def __init__(self, reason: str, *, code: int | None = None, hard_bounce: bool = False) -> None:
        super().__init__(f"{code} {reason}" if code is not None else reason)
        self.code = code
        self.reason = reason
        self.hard_bounce = hard_bounce


class MailAccountRefused(MailRejected):
    pass


class MailDeferred(TransientError):
    def __init__(
        self, reason: str, *, retry_after: float | None = None, code: int | None = None,
        throttled: bool = False,
    ) -> None:  # fmt: skip
        super().__init__(reason, retry_after_s=retry_after)
        self.reason = reason
        self.retry_after = retry_after
        self.code = code
        self.throttled = throttled


class SmtpTransport:
    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def _connection(self) -> smtplib.SMTP:
        if self.smtp is None:
            s = self.settings
            self.smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s)
        return self.smtp

    def send(self, mail: OutgoingMail) -> str:
        message = EmailMessage()
        message["From"] = mail.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate()
        message["Message-ID"] = mail.message_id
        for name, value in mail.headers.items():
            message[name] = value
        message.set_content(mail.text)
        if mail.html:
            message.add_alternative(mail.html, subtype="html")
        try:
            self._connection().send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            if code >= 500:
                raise MailRejected(
                    text.decode(), code=code, hard_bounce=code in (550, 551, 553)
                ) from None
            raise MailDeferred(text.decode(), code=code, throttled=True) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            if exc.smtp_code >= 500:
                raise MailRejected(str(exc.smtp_error), code=exc.smtp_code) from None
            raise MailDeferred(str(exc.smtp_error), code=exc.smtp_code) from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise MailDeferred(str(exc)) from None
        return mail.message_id

    def close(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.smtp.quit()
            self.smtp = None


def transport_for(settings: Settings) -> SmtpTransport:
    return SmtpTransport(settings)


class MailPacer:
    def __init__(self) -> None:
        self.until = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> MailPacer:
        return cls()

    def wait(self, recipient_domain: str, sleep: Callable[[float], None] = time.sleep) -> None:
        left = self.until - time.monotonic()
        if left > 0:
            sleep(left)

    def slow_down(self, retry_after: float | None = None) -> None:
        self.until = time.monotonic() + (retry_after or 1.0)

    def close(self) -> None:
        pass
