"""What the mail domain keeps about a person, and its erasure when their account goes.

Campaigns and sequences stay their organisation's, without who made them. The mails sent to
the person's address stay counted in their campaign's figures, but the address becomes a
digest and the recipient's fields go; their enrolments are removed. The suppression list
keeps the address: it exists so that an address that asked not to be mailed is not mailed
again, and forgetting it would undo that.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from models.core.erasure import Person, personal_data
from models.mail.tables import Campaign, Enrolment, Send, Sequence


def export_mail(session: Session, person: Person) -> dict[str, Any]:
    email = person.email.lower()
    received = session.execute(
        select(Send.status, Send.sent_at, Send.campaign_id, Send.step_id)
        .where(Send.email == email)
        .order_by(Send.id)
    )
    return {
        "campaigns_created": [
            str(i) for i in session.scalars(
                select(Campaign.id).where(Campaign.created_by == person.user_id)
            )
        ],
        "mails_received": [
            {
                "status": r.status,
                "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                "campaign_id": str(r.campaign_id) if r.campaign_id else None,
                "step_id": str(r.step_id) if r.step_id else None,
            }
            for r in received
        ],
    }  # fmt: skip


@personal_data("mail", export=export_mail)
def erase_mail(session: Session, person: Person) -> None:
    for table in (Campaign, Sequence):
        session.execute(
            update(table)
            .where(table.created_by == person.user_id)
            .values(created_by=None)
            .execution_options(synchronize_session=False)
        )
    email = person.email.lower()
    erased = "erased-" + hashlib.sha256(email.encode()).hexdigest()[:32]
    session.execute(
        update(Send)
        .where(Send.email == email)
        .values(email=erased, recipient=func.jsonb_build_object())
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(Enrolment).where(Enrolment.email == email))
