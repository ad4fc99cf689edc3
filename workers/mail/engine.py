"""The sending engine every mail of a campaign or a sequence goes through.

For each mail it holds the ledger row's lock (models/mail/sends.py), then: skips a suppressed
address, re-checks a lead's address whose verdict is stale (and skips an invalid one), renders
the templates for the recipient, adds the one-click unsubscribe headers and link, the open
pixel and signed click links, waits for the shared pace, and hands the mail to the transport.
What the provider answers is written in the same transaction:

- accepted: the ledger entry (`sent`), so no later run sends it again;
- refused for good (MailRejected): `failed` with the reason, and a hard bounce suppresses
  the address for the organisation;
- "later" (MailDeferred): the shared pace slows down and the mail is due again after a
  backoff; past MAX_DEFERRALS it is failed with the provider's reason.

The Message-ID is made from the ledger row, so it is the same on every attempt of one mail:
an HTTP provider takes it as the idempotency key, and de-duplicates a send repeated after a
crash between its acceptance and the ledger write.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formataddr, parseaddr
from html import escape, unescape
from typing import Any

from sqlalchemy.orm import Session

from config import Settings
from models import leads
from models.core.errors import InvalidInput
from models.mail import links, sends, suppression
from models.mail.tables import Send, SuppressionReason
from models.mail.templates import Parts, render
from workers.clients import dns
from workers.clients.mail_pacing import MailPacer
from workers.clients.mailer import (
    MailAccountRefused,
    MailDeferred,
    MailRejected,
    OutgoingMail,
    transport_for,
)

log = logging.getLogger("backline.mail")

_HREF = re.compile(r"""href=(["'])(https?://[^"'<>\s]+)\1""", re.IGNORECASE)


@dataclass(frozen=True)
class Letter:
    """What one campaign or step sends: its templates, sender and fields for everyone."""

    parts: Parts
    from_name: str
    reply_to: str | None
    org_name: str
    extra: dict[str, Any]  # more template fields (a trial's days left)
    tag: str  # "campaign:<id>" or "step:<id>"


class Outcome:
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    DEFERRED = "deferred"
    HELD = "held"  # not sent, still pending: the campaign stopped sending while it waited


class Sender:
    """One thread's way of sending: a transport kept open, the shared pace, the DNS resolver."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.transport = transport_for(settings)
        self.pacer = MailPacer.from_settings(settings)
        self._resolver: Any = None

    def close(self) -> None:
        self.transport.close()
        self.pacer.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- one mail ----------------------------------------------------------------------------
    def deliver(
        self,
        session: Session,
        claimed: sends.Claimed,
        letter: Letter,
        still_wanted: Callable[[], bool] | None = None,
    ) -> tuple[str, str | None]:
        """Send one locked ledger row and record the outcome (the caller commits).

        While it waits for the pace, `still_wanted()` is asked about once a second; once it is
        false the row is left pending (HELD) and its lock goes with the caller's commit."""
        send = claimed.send
        if claimed.suppressed:
            reason = f"suppressed: {claimed.suppressed}"
            sends.mark_skipped(session=session, send=send, reason=reason)
            return Outcome.SKIPPED, reason
        invalid = self._stale_lead_verdict(session, send)
        if invalid:
            sends.mark_skipped(session=session, send=send, reason=invalid)
            return Outcome.SKIPPED, invalid
        try:
            mail = self.compose(send, letter)
        except InvalidInput as exc:  # a template that fails on this recipient's fields
            sends.mark_failed(session=session, send=send, reason=exc.message)
            return Outcome.FAILED, exc.message
        stop = None if still_wanted is None else (lambda: not still_wanted())
        if not self.pacer.wait(mail.recipient_domain, stop=stop):
            return Outcome.HELD, "the campaign stopped sending"
        try:
            provider_id = self.transport.send(mail)
        except MailAccountRefused:
            raise  # the deployment's provider refuses us: the campaign stops, nobody fails
        except MailRejected as refused:
            reason = str(refused)
            sends.mark_failed(
                session=session, send=send, reason=reason, bounced=refused.hard_bounce
            )
            if refused.hard_bounce:
                suppression.suppress(
                    session=session,
                    org_id=send.org_id,
                    email=send.email,
                    reason=SuppressionReason.HARD_BOUNCE,
                    detail=reason,
                )
            return Outcome.FAILED, reason
        except MailDeferred as later:
            if later.throttled:  # the provider asked us to slow down: every sender does
                self.pacer.slow_down(later.retry_after)
            again = sends.mark_deferred(
                session=session, send=send, reason=str(later), retry_after_s=later.retry_after
            )
            return (Outcome.DEFERRED if again else Outcome.FAILED), str(later)
        sends.mark_sent(
            session=session, send=send, message_id=mail.message_id, provider_id=provider_id
        )
        return Outcome.SENT, None

    def _stale_lead_verdict(self, session: Session, send: Send) -> str | None:
        """A lead's address whose verdict is older than allowed is checked again now; the
        reason to skip it if it is invalid."""
        if send.recipient.get("kind") != "lead":
            return None
        lead_id = uuid.UUID(send.recipient["id"])
        address = send.recipient.get("address", send.email)
        max_age = timedelta(days=self.settings.leads_verdict_max_age_days)
        if leads.is_fresh(session=session, lead_id=lead_id, email=address, max_age=max_age):
            return None
        if self._resolver is None:
            self._resolver = dns.resolver(self.settings)
        domain = address.rsplit("@", 1)[-1].lower()
        hosts, error, transient = dns.mail_servers(self._resolver, domain)
        verdict, reasons = leads.judge(address, leads.MxAnswer(hosts, error, transient))
        leads.record_check(
            session=session,
            lead_id=lead_id,
            email=address,
            verdict=verdict,
            reasons=reasons,
            source="syntax+mx",
        )
        if verdict == leads.Verdict.INVALID:
            return "invalid address: " + "; ".join(reasons)
        return None

    # -- composing ---------------------------------------------------------------------------
    def compose(self, send: Send, letter: Letter) -> OutgoingMail:
        base = self.settings.public_base_url.rstrip("/")
        secret = self.settings.jwt_secret
        unsubscribe = f"{base}/api/v1/mail/u/{links.unsubscribe_token(secret, send.id)}"
        context = {
            "recipient": send.recipient,
            "org": {"name": letter.org_name},
            "unsubscribe_url": unsubscribe,
            **letter.extra,
        }
        rendered = render(letter.parts, context)
        text = f"{rendered.text.rstrip()}\n\n--\nUnsubscribe: {unsubscribe}\n"
        html = None
        if rendered.html is not None:
            html = self._tracked_html(rendered.html, send.id, base, secret, unsubscribe)
        address = parseaddr(self.settings.mail_from)[1] or "no-reply@backline.local"
        domain = address.rsplit("@", 1)[-1]
        headers = {
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        if letter.reply_to:
            headers["Reply-To"] = letter.reply_to
        return OutgoingMail(
            sender=formataddr((letter.from_name, address)),
            to=send.email,
            subject=rendered.subject,
            text=text,
            html=html,
            headers=headers,
            message_id=f"<mail-{send.id}.{letter.tag.replace(':', '-')}@{domain}>",
            tags={"send": str(send.id), "org": str(send.org_id)},
        )

    @staticmethod
    def _tracked_html(html: str, send_id: int, base: str, secret: str, unsubscribe: str) -> str:
        def tracked(match: re.Match[str]) -> str:
            if match.group(2).startswith(base + "/"):  # our own links (unsubscribe) stay
                return match.group(0)
            # The attribute's text is HTML: "&amp;" in a query string is "&" in the address.
            token = links.click_token(secret, send_id, unescape(match.group(2)))
            return f'href="{base}/api/v1/mail/c/{token}"'

        body = _HREF.sub(tracked, html)
        pixel = f"{base}/api/v1/mail/o/{links.open_token(secret, send_id)}.gif"
        footer = (
            f'<p style="font-size:12px;color:#666"><a href="{escape(unsubscribe)}">'
            "Unsubscribe</a></p>"
            f'<img src="{escape(pixel)}" width="1" height="1" alt="" style="display:none">'
        )
        if "</body>" in body:
            return body.replace("</body>", footer + "</body>", 1)
        return body + footer
