"""Who carries a campaign's mail: one interface over the deployment's provider.

    transport = transport_for(settings)         # MAIL_PROVIDER: "smtp" or "resend"
    try:
        provider_id = transport.send(mail)      # an OutgoingMail, one recipient
    except MailRejected as refused:             # for good: refused.code, .reason, .hard_bounce
        ...
    except MailDeferred as later:               # try again later: later.retry_after, .throttled
        ...
    finally:
        transport.close()

A transport keeps its connection open across sends (one SMTP session, one HTTP connection
pool), so a sender makes one per thread and reuses it. `send` either returns the provider's id
for the accepted message or raises one of the two errors below; nothing else escapes it.
`message_id` is the mail's stable identity: written as its Message-ID and sent to Resend as
the Idempotency-Key, so a retried send of the same mail is recognised by the provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from config import Settings
from workers.core.errors import PermanentError, TransientError


@dataclass(frozen=True)
class OutgoingMail:
    """One message to one recipient, as the sender built it."""

    sender: str  # "Name <addr>" or addr
    to: str  # one recipient address
    subject: str
    text: str
    html: str | None
    headers: Mapping[str, str]  # extra headers: List-Unsubscribe, List-Unsubscribe-Post, ...
    message_id: str  # "<local@domain>" or "local@domain": stable per (campaign or step, recipient)
    tags: Mapping[str, str] = field(default_factory=dict)  # {"campaign": ..., "org": ...}

    @property
    def recipient_domain(self) -> str:
        """The recipient's domain, lower-cased: what the per-domain pace counts by."""
        return self.to.rpartition("@")[2].strip().rstrip(">").lower()

    @property
    def bare_message_id(self) -> str:
        """The message id without its angle brackets."""
        return self.message_id.strip().removeprefix("<").removesuffix(">")


class MailRejected(PermanentError):
    """The provider refused this message for good (SMTP 5xx, HTTP 4xx other than 429).

    `code` is the SMTP reply code or the HTTP status (None when refused before it left);
    `hard_bounce` says the recipient does not exist, so the address should be suppressed.
    """

    def __init__(self, reason: str, *, code: int | None = None, hard_bounce: bool = False) -> None:
        super().__init__(f"{code} {reason}" if code is not None else reason)
        self.code = code
        self.reason = reason
        self.hard_bounce = hard_bounce


class MailAccountRefused(MailRejected):
    """The provider refused the sender, not the recipient (bad key or login, unverified
    sending domain, wrong address of the API): every mail would fail the same way until the
    configuration is fixed, so a campaign should stop rather than fail its recipients."""


class MailDeferred(TransientError):
    """Try this mail again later (SMTP 4xx, lost connection, HTTP 429, 5xx, timeouts).

    `retry_after` is the least wait the provider asked for, if it said; `throttled` says the
    provider asked us to slow down (HTTP 429, SMTP 4xx), which should slow the shared pace.
    """

    def __init__(
        self,
        reason: str,
        *,
        retry_after: float | None = None,
        code: int | None = None,
        throttled: bool = False,
    ) -> None:
        super().__init__(
            f"{code} {reason}" if code is not None else reason, retry_after_s=retry_after
        )
        self.reason = reason
        self.retry_after = retry_after
        self.code = code
        self.throttled = throttled


class Transport(Protocol):
    """A provider's way of sending; one per thread, reused across sends."""

    name: str

    def send(self, mail: OutgoingMail) -> str:
        """Hand `mail` over; the provider's id for it. Raises MailRejected or MailDeferred."""
        ...

    def close(self) -> None: ...


def transport_for(settings: Settings) -> Transport:
    """The transport MAIL_PROVIDER names ("smtp", the default, or "resend")."""
    # Imported here: the transports import this module's types.
    if settings.mail_provider == "resend":
        from workers.clients.resend import ResendTransport

        return ResendTransport(settings)
    from workers.clients.smtp import SmtpTransport

    return SmtpTransport(settings)
