"""What the revenue domain holds about a platform user (the ledger is the artist's, the
organisation's): who uploaded or reverted a report, who asked for or moved a withdrawal, who
asked for a statement. For account export and erasure (models/core/erasure.py): the rows stay
the organisation's, since the money they record does not leave with a member, and lose the
name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.core.erasure import Person, personal_data
from models.revenue.tables import Statement, Upload, Withdrawal, WithdrawalEvent


def _export(session: Session, person: Person) -> dict[str, Any]:
    uploads = session.execute(
        select(Upload.id, Upload.filename, Upload.created_at).where(
            Upload.uploaded_by == person.user_id
        )
    ).all()
    withdrawals = session.execute(
        select(Withdrawal.id, Withdrawal.currency, Withdrawal.amount, Withdrawal.created_at).where(
            Withdrawal.requested_by == person.user_id
        )
    ).all()
    statements = session.execute(
        select(
            Statement.id, Statement.first_month, Statement.last_month, Statement.created_at
        ).where(Statement.requested_by == person.user_id)
    ).all()
    return {
        "revenue_statements_requested": [
            {"id": str(i), "from": f"{a:%Y-%m}", "to": f"{b:%Y-%m}", "created_at": at.isoformat()}
            for i, a, b, at in statements
        ],
        "revenue_reports_uploaded": [
            {"id": str(i), "filename": name, "created_at": at.isoformat()}
            for i, name, at in uploads
        ],
        "withdrawals_requested": [
            {"id": str(i), "currency": c, "amount": str(amount), "created_at": at.isoformat()}
            for i, c, amount, at in withdrawals
        ],
    }


@personal_data("revenue", export=_export)
def _erase(session: Session, person: Person) -> None:
    user = person.user_id
    session.execute(update(Upload).where(Upload.uploaded_by == user).values(uploaded_by=None))
    session.execute(update(Upload).where(Upload.reverted_by == user).values(reverted_by=None))
    session.execute(
        update(Withdrawal).where(Withdrawal.requested_by == user).values(requested_by=None)
    )
    session.execute(
        update(WithdrawalEvent).where(WithdrawalEvent.actor_id == user).values(actor_id=None)
    )
    session.execute(
        update(Statement).where(Statement.requested_by == user).values(requested_by=None)
    )
