"""What recipients do with a sent mail: unsubscribe (one click, RFC 8058), open, click.

Each finds the mail by the id its signed link carries (models/mail/links.py) and records the
first time on the ledger row; an unsubscribe also suppresses the address for the
organisation and takes it out of the sequence that sent the mail.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from models.mail import sends, suppression
from models.mail.tables import Enrolment, Send, SuppressionReason


def unsubscribe(*, session: Session, send_id: int) -> Send | None:
    """The recipient of this mail unsubscribes from its organisation's mail (again: no-op)."""
    send = sends.send_by_id(session=session, send_id=send_id)
    if send is None:
        return None
    sends.record_event(session=session, send=send, event="unsubscribed")
    suppression.suppress(
        session=session,
        org_id=send.org_id,
        email=send.email,
        reason=SuppressionReason.UNSUBSCRIBED,
        detail=f"one-click unsubscribe from mail {send.id}",
    )
    if send.enrolment_id is not None:
        enrolment = session.get(Enrolment, send.enrolment_id)
        if enrolment is not None and enrolment.status == "active":
            enrolment.status = "exited"
            enrolment.exit_reason = "unsubscribed"
            enrolment.next_due_at = None
    return send


def record(*, session: Session, send_id: int, event: str) -> Send | None:
    """An open or a click of the mail (its first time is kept)."""
    send = sends.send_by_id(session=session, send_id=send_id)
    if send is not None and send.status == "sent":
        sends.record_event(session=session, send=send, event=event)
    return send
