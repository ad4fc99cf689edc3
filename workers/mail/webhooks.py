"""What the mail provider reports about sent mail (Resend's signed events, docs/webhooks.md):
delivered, bounced, complained. Each finds its mail in the ledger (by the `send` tag the
engine sets, else by the provider's id or the Message-ID) and records the event there; a
permanent bounce and a complaint also suppress the address for the organisation. An event
about a mail that is not ours is passed over.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from models.mail import sends, suppression
from models.mail.tables import Send, SuppressionReason
from workers.core.webhooks import ReceivedEvent, webhook_handler

log = logging.getLogger("backline.mail")


def _send_of(session: Session, data: dict[str, Any]) -> Send | None:
    tags = data.get("tags")
    tag = tags.get("send") if isinstance(tags, dict) else None
    if isinstance(tag, str) and tag.isdigit() and len(tag) < 19:
        found = sends.send_by_id(session=session, send_id=int(tag))
        if found is not None:
            return found
    email_id = data.get("email_id")
    if isinstance(email_id, str) and email_id:
        found = session.scalar(select(Send).where(Send.provider_id == email_id).limit(1))
        if found is not None:
            return found
    message_id = data.get("message_id")
    if isinstance(message_id, str) and message_id:
        return sends.send_by_message_id(session=session, message_id=message_id)
    return None


def _data(event: ReceivedEvent) -> dict[str, Any]:
    try:
        body = event.json()
    except ValueError:
        return {}
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}


@webhook_handler("resend", "email.delivered", "email.bounced", "email.complained")
def mail_event(session: Session, event: ReceivedEvent, settings: Settings) -> None:
    """Record a delivery, a bounce or a complaint on the mail; suppress what must be."""
    data = _data(event)
    send = _send_of(session, data)
    if send is None:
        log.info("mail event about no mail of ours", extra={"event": event.message_id})
        return
    kind = event.event_type.removeprefix("email.")
    if kind == "delivered":
        sends.record_event(session=session, send=send, event="delivered")
        return
    if kind == "complained":
        sends.record_event(session=session, send=send, event="complained")
        suppression.suppress(
            session=session,
            org_id=send.org_id,
            email=send.email,
            reason=SuppressionReason.COMPLAINT,
            detail="the recipient marked the mail as spam",
        )
        return
    found = data.get("bounce")
    bounce: dict[str, Any] = found if isinstance(found, dict) else {}
    if bounce.get("type") != "Permanent":
        log.info("transient bounce noted only", extra={"event": event.message_id})
        return
    sends.record_event(session=session, send=send, event="bounced")
    detail = " ".join(str(bounce.get(k, "")) for k in ("subType", "message")).strip()
    suppression.suppress(
        session=session,
        org_id=send.org_id,
        email=send.email,
        reason=SuppressionReason.HARD_BOUNCE,
        detail=detail or "permanent bounce",
    )
