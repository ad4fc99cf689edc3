"""Withdrawals: an artist asks for money it has earned; platform admins approve, reject or
mark it paid. Every change is written to the audit trail.

The available balance (earned minus what withdrawals hold) never goes negative: a request
takes its amount with one conditional UPDATE of the balance row, which PostgreSQL runs under
the row's lock, so of two requests at once the second sees what the first took. A rejection
gives the amount back.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.core.errors import Conflict, InvalidInput, NotFound
from models.core.pages import newest_first
from models.revenue.tables import (
    PayoutMethod,
    Withdrawal,
    WithdrawalEvent,
    WithdrawalStatus,
)


class InsufficientBalance(Conflict):
    """The amount is more than the available balance in that currency."""

    code = "insufficient_balance"


class WithdrawalStateConflict(Conflict):
    """The withdrawal is not in a state that allows this change."""

    code = "withdrawal_state"


# What each decision moves a withdrawal to, from which states.
TRANSITIONS: dict[str, tuple[WithdrawalStatus, frozenset[WithdrawalStatus]]] = {
    "approve": (WithdrawalStatus.APPROVED, frozenset({WithdrawalStatus.REQUESTED})),
    "reject": (
        WithdrawalStatus.REJECTED,
        frozenset({WithdrawalStatus.REQUESTED, WithdrawalStatus.APPROVED}),
    ),
    "pay": (WithdrawalStatus.PAID, frozenset({WithdrawalStatus.APPROVED})),
}


def set_payout_method(
    *, session: Session, org_id: uuid.UUID, kind: str, details: str
) -> PayoutMethod:
    method = session.get(PayoutMethod, org_id)
    if method is None:
        method = PayoutMethod(org_id=org_id, kind=kind, details=details)
        session.add(method)
    else:
        method.kind, method.details, method.updated_at = kind, details, utcnow()
    session.flush()
    return method


def payout_method(*, session: Session, org_id: uuid.UUID) -> PayoutMethod:
    method = session.get(PayoutMethod, org_id)
    if method is None:
        raise NotFound("no payout method on file")
    return method


def _hold(session: Session, org_id: uuid.UUID, currency: str, amount: Decimal) -> bool:
    held = session.execute(
        text(
            """
            UPDATE revenue_balances SET held = held + :amount
             WHERE org_id = :org_id AND currency = :currency AND earned - held >= :amount
            RETURNING held
            """
        ),
        {"org_id": org_id, "currency": currency, "amount": amount},
    ).first()
    return held is not None


def _release(session: Session, org_id: uuid.UUID, currency: str, amount: Decimal) -> None:
    session.execute(
        text(
            "UPDATE revenue_balances SET held = held - :amount "
            "WHERE org_id = :org_id AND currency = :currency"
        ),
        {"org_id": org_id, "currency": currency, "amount": amount},
    )


def _audit(
    session: Session,
    withdrawal: Withdrawal,
    actor_id: uuid.UUID,
    note: str | None = None,
) -> None:
    session.add(
        WithdrawalEvent(
            withdrawal_id=withdrawal.id, actor_id=actor_id, status=withdrawal.status, note=note
        )
    )
    session.flush()


def request_withdrawal(
    *,
    session: Session,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    currency: str,
    amount: Decimal,
    minimum: Decimal,
) -> Withdrawal:
    if amount < minimum:
        raise InvalidInput(
            f"the least one may withdraw is {minimum} {currency}",
            details={"fields": {"amount": [f"at least {minimum}"]}},
        )
    method = session.get(PayoutMethod, org_id)
    if method is None:
        raise Conflict("put a payout method on file first", details={"payout_method": None})
    if not _hold(session, org_id, currency, amount):
        raise InsufficientBalance(
            f"the available balance in {currency} is less than {amount}",
            details={"currency": currency},
        )
    withdrawal = Withdrawal(
        org_id=org_id,
        requested_by=user_id,
        currency=currency,
        amount=amount,
        status=WithdrawalStatus.REQUESTED,
        payout_method=f"{method.kind}: {method.details}"[:500],
    )
    session.add(withdrawal)
    session.flush()
    _audit(session, withdrawal, user_id)
    return withdrawal


def get_withdrawal(
    *, session: Session, withdrawal_id: uuid.UUID, org_id: uuid.UUID | None
) -> Withdrawal:
    """The withdrawal, of `org_id` (None: any organisation, for platform admins)."""
    withdrawal = session.get(Withdrawal, withdrawal_id)
    if withdrawal is None or (org_id is not None and withdrawal.org_id != org_id):
        raise NotFound("withdrawal not found", details={"withdrawal_id": str(withdrawal_id)})
    return withdrawal


def decide(
    *,
    session: Session,
    withdrawal_id: uuid.UUID,
    actor_id: uuid.UUID,
    action: str,
    reason: str | None,
) -> Withdrawal:
    """Approve, reject (giving the amount back) or mark paid; one change at a time."""
    target, allowed = TRANSITIONS[action]
    withdrawal = session.scalar(
        select(Withdrawal)
        .where(Withdrawal.id == withdrawal_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if withdrawal is None:
        raise NotFound("withdrawal not found", details={"withdrawal_id": str(withdrawal_id)})
    if withdrawal.status not in allowed:
        raise WithdrawalStateConflict(
            f"a {withdrawal.status.value} withdrawal cannot be {target.value}",
            details={"status": withdrawal.status.value},
        )
    if target is WithdrawalStatus.REJECTED:
        if not reason:
            raise InvalidInput(
                "say why the withdrawal is rejected",
                details={"fields": {"reason": ["required to reject"]}},
            )
        _release(session, withdrawal.org_id, withdrawal.currency, withdrawal.amount)
    withdrawal.status = target
    withdrawal.reason = reason
    withdrawal.updated_at = utcnow()
    _audit(session, withdrawal, actor_id, reason)
    return withdrawal


def list_withdrawals(
    *, session: Session, org_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Withdrawal], str | None]:
    return newest_first(
        session=session,
        query=select(Withdrawal).where(Withdrawal.org_id == org_id),
        created_at=Withdrawal.created_at,
        row_id=Withdrawal.id,
        cursor=cursor,
        limit=limit,
    )


def audit_trail(*, session: Session, withdrawal: Withdrawal) -> list[WithdrawalEvent]:
    return list(
        session.scalars(
            select(WithdrawalEvent)
            .where(WithdrawalEvent.withdrawal_id == withdrawal.id)
            .order_by(WithdrawalEvent.id)
        )
    )
