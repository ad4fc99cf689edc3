"""The send ledger's rules: take the next pending mail under its row lock, and record what the
provider said, in the transaction that holds the lock.

Whoever sends holds the row's lock (SELECT … FOR UPDATE SKIP LOCKED) from before the provider
is asked until the outcome commits, so two senders never send one row, and a sender that
dies mid-send releases it still pending. The lock query also reads the campaign's status (a
paused or cancelled campaign yields nothing: pause takes effect before the next mail) and the
suppression list (a suppressed address is skipped, with the reason).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.mail.tables import Campaign, CampaignStatus, Send, SendStatus, Suppression

# A deferred mail (the provider said "later") is tried this many times, then failed with the
# provider's last reason: never left pending for ever, never dropped without a word.
MAX_DEFERRALS = 8


@dataclass(frozen=True)
class Claimed:
    send: Send
    suppressed: str | None  # the suppression reason, if the address is on the list


def claim_next(*, session: Session, campaign_id: uuid.UUID) -> Claimed | None:
    """Lock the campaign's next mail due to go, if the campaign is sending."""
    row = session.execute(
        select(Send, Suppression.reason)
        .join(Campaign, Campaign.id == Send.campaign_id)
        .outerjoin(
            Suppression, and_(Suppression.org_id == Send.org_id, Suppression.email == Send.email)
        )
        .where(
            Send.campaign_id == campaign_id,
            Send.status == SendStatus.PENDING.value,
            Campaign.status == CampaignStatus.SENDING.value,
            or_(Send.next_attempt_at.is_(None), Send.next_attempt_at <= func.now()),
        )
        .order_by(Send.id)
        .limit(1)
        .with_for_update(of=Send, skip_locked=True)
    ).first()
    return None if row is None else Claimed(row[0], row[1])


def claim(*, session: Session, send_id: int) -> Claimed | None:
    """Lock one pending mail (a sequence step's), or None if it went or is being sent."""
    row = session.execute(
        select(Send, Suppression.reason)
        .outerjoin(
            Suppression, and_(Suppression.org_id == Send.org_id, Suppression.email == Send.email)
        )
        .where(Send.id == send_id, Send.status == SendStatus.PENDING.value)
        .with_for_update(of=Send, skip_locked=True)
    ).first()
    return None if row is None else Claimed(row[0], row[1])


def mark_sent(*, session: Session, send: Send, message_id: str, provider_id: str) -> None:
    """The ledger entry: the provider accepted the mail."""
    send.status = SendStatus.SENT.value
    send.message_id = message_id
    send.provider_id = provider_id[:500]
    send.sent_at = utcnow()
    send.attempts += 1
    send.reason = None


def mark_failed(*, session: Session, send: Send, reason: str, bounced: bool = False) -> None:
    send.status = SendStatus.FAILED.value
    send.reason = reason[:2000]
    send.attempts += 1
    if bounced:
        send.bounced_at = utcnow()


def mark_skipped(*, session: Session, send: Send, reason: str) -> None:
    send.status = SendStatus.SKIPPED.value
    send.reason = reason[:2000]


def mark_deferred(
    *, session: Session, send: Send, reason: str, retry_after_s: float | None
) -> bool:
    """Try the mail again later; False when it has been deferred too often (then failed)."""
    send.attempts += 1
    if send.attempts >= MAX_DEFERRALS:
        mark_failed(session=session, send=send, reason=f"deferred {send.attempts} times: {reason}")
        send.attempts -= 1  # mark_failed counted it already
        return False
    backoff = max(retry_after_s or 0.0, min(2.0**send.attempts, 600.0))
    send.next_attempt_at = utcnow() + timedelta(seconds=backoff)
    send.reason = f"deferred: {reason}"[:2000]
    return True


def next_retry_in_s(*, session: Session, campaign_id: uuid.UUID) -> float | None:
    """Seconds until the campaign's earliest deferred mail is due (None: none is deferred)."""
    due = session.scalar(
        select(func.min(Send.next_attempt_at)).where(
            Send.campaign_id == campaign_id,
            Send.status == SendStatus.PENDING.value,
            Send.next_attempt_at > func.now(),
        )
    )
    return None if due is None else max(0.0, (due - utcnow()).total_seconds())


def pending_count(*, session: Session, campaign_id: uuid.UUID) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Send)
            .where(Send.campaign_id == campaign_id, Send.status == SendStatus.PENDING.value)
        )
        or 0
    )


def cancel_pending(*, session: Session, campaign_id: uuid.UUID) -> None:
    """Mark what had not gone as cancelled. A mail a sender holds is left to it (a cancel does
    not wait on a sender waiting for the pace): the sender sees the campaign cancelled within
    a second, lets the mail go unsent and cancels it with this again."""
    held_by_nobody = (
        select(Send.id)
        .where(Send.campaign_id == campaign_id, Send.status == SendStatus.PENDING.value)
        .with_for_update(skip_locked=True)
    )
    session.execute(
        update(Send)
        .where(Send.id.in_(held_by_nobody.scalar_subquery()))
        .values(status=SendStatus.CANCELLED.value, reason="the campaign was cancelled")
        .execution_options(synchronize_session=False)
    )


def send_by_id(*, session: Session, send_id: int) -> Send | None:
    return session.get(Send, send_id)


def send_by_message_id(*, session: Session, message_id: str) -> Send | None:
    bare = message_id.strip().removeprefix("<").removesuffix(">")
    return session.scalar(select(Send).where(Send.message_id.in_([f"<{bare}>", bare])).limit(1))


def record_event(*, session: Session, send: Send, event: str) -> None:
    """An event about a sent mail (delivered, opened, clicked…): its first time is kept."""
    column = f"{event}_at"
    if getattr(send, column) is None:
        setattr(send, column, utcnow())


def as_dict(send: Send) -> dict[str, Any]:
    return {
        "email": send.email,
        "status": send.status,
        "reason": send.reason,
        "attempts": send.attempts,
    }
