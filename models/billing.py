"""Billing: an organisation's trial, its Stripe checkouts and subscription, and its tier.

A new organisation gets a trial of the creator tier (TRIAL_DAYS); a periodic job returns
expired trials to free. A paid tier starts with a Stripe checkout that Backline creates, and
from then on only Stripe's signed events change it: `checkout.session.completed` and
`customer.subscription.created/updated/deleted`. Each event is processed once (the webhook
store is unique by event id), and subscription events older than the last one applied are
ignored, since Stripe does not promise to deliver them in order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.core.base import Base, now_ts, utcnow
from models.core.erasure import Person, personal_data
from models.core.errors import InvalidInput, NotFound
from models.core.fields import text_problem
from models.core.quotas import Tier, days_left
from models.orgs import Organization

TRIAL_TIER = Tier.CREATOR
# What each paid tier costs a month, in US dollars (exact decimals, as Stripe's prices are).
PAID_TIERS: dict[Tier, Decimal] = {
    Tier.CREATOR: Decimal("29.00"),
    Tier.PROFESSIONAL: Decimal("99.00"),
}
# Stripe subscription statuses that keep the paid tier (past_due: Stripe is still retrying
# the payment); the others (canceled, unpaid, incomplete_expired) return the organisation to
# free, and `incomplete` changes nothing yet.
PAYING = ("active", "trialing", "past_due")
ENDED = ("canceled", "unpaid", "incomplete_expired")
TIER_VALUES = ", ".join(f"'{t.value}'" for t in PAID_TIERS)


class BillingCheckout(Base):
    """A Stripe checkout session Backline created for an organisation."""

    __tablename__ = "billing_checkouts"
    __table_args__ = (
        Index("ix_billing_checkouts_org_id", "org_id", "created_at"),
        CheckConstraint(f"tier IN ({TIER_VALUES})", name="paid_tier"),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe's cs_… id
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    tier: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(Text)
    paid: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[now_ts]
    completed_at: Mapped[datetime | None]


class BillingSubscription(Base):
    """An organisation's Stripe subscription, as its last applied event described it."""

    __tablename__ = "billing_subscriptions"
    __table_args__ = (CheckConstraint(f"tier IN ({TIER_VALUES})", name="paid_tier"),)

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    stripe_subscription_id: Mapped[str] = mapped_column(String(255), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    tier: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(40))
    current_period_end: Mapped[datetime | None]
    # The `created` time of the last Stripe event applied: older ones are stale.
    event_created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[now_ts] = mapped_column(onupdate=func.now())


@dataclass(frozen=True)
class BillingState:
    tier: Tier
    trial_ends_at: datetime | None
    subscription: BillingSubscription | None

    @property
    def trial_days_left(self) -> int | None:
        return days_left(self.trial_ends_at)


# -- the trial -------------------------------------------------------------------------------
def start_trial(*, session: Session, org_id: uuid.UUID, days: int) -> None:
    """Put a new organisation on the trial tier for `days` (0: no trial)."""
    if days <= 0:
        return
    org = session.get_one(Organization, org_id)
    if org.trial_ends_at is not None or org.tier != Tier.FREE:
        return  # one trial per organisation
    org.tier = TRIAL_TIER
    org.trial_ends_at = utcnow() + timedelta(days=days)
    session.flush()


def expire_trials(*, session: Session, now: datetime | None = None) -> int:
    """Return every organisation whose trial ended, and which pays for nothing, to free."""
    paying = exists().where(
        BillingSubscription.org_id == Organization.id, BillingSubscription.status.in_(PAYING)
    )
    result = session.execute(
        update(Organization)
        .where(
            Organization.trial_ends_at <= (now or utcnow()),
            Organization.tier == TRIAL_TIER,
            ~paying,
        )
        .values(tier=Tier.FREE)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def billing_state(*, session: Session, org_id: uuid.UUID) -> BillingState:
    org = session.get_one(Organization, org_id)
    return BillingState(org.tier, org.trial_ends_at, session.get(BillingSubscription, org_id))


# -- checkouts -------------------------------------------------------------------------------
def paid_tier(value: str) -> Tier:
    tier = Tier(value)
    if tier not in PAID_TIERS:
        raise InvalidInput(
            "only paid tiers can be bought", details={"fields": {"tier": ["not a paid tier"]}}
        )
    return tier


def record_checkout(
    *,
    session: Session,
    checkout_id: str,
    org_id: uuid.UUID,
    created_by: uuid.UUID,
    tier: Tier,
    url: str,
) -> BillingCheckout:
    checkout = BillingCheckout(
        id=checkout_id, org_id=org_id, created_by=created_by, tier=tier.value, url=url
    )
    session.add(checkout)
    session.flush()
    return checkout


def checkout_of(*, session: Session, org_id: uuid.UUID, checkout_id: str) -> BillingCheckout:
    """One of the organisation's checkouts (another organisation's is as unknown as none)."""
    if text_problem(checkout_id):  # a NUL or a lone surrogate: no id Backline made
        raise NotFound("checkout not found")
    checkout = session.scalar(
        select(BillingCheckout).where(
            BillingCheckout.id == checkout_id, BillingCheckout.org_id == org_id
        )
    )
    if checkout is None:
        raise NotFound("checkout not found", details={"checkout_id": checkout_id})
    return checkout


# -- Stripe's events -------------------------------------------------------------------------
class IgnoredEvent(Exception):
    """A verified event that is not about anything of ours (logged, not failed)."""


def _created(event: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(event.get("created") or 0), UTC)


def checkout_completed(*, session: Session, event: dict[str, Any]) -> BillingCheckout:
    """`checkout.session.completed`: the checkout is paid, and the tier it bought starts."""
    obj = event["data"]["object"]
    checkout = session.get(BillingCheckout, str(obj.get("id")), with_for_update=True)
    if checkout is None:
        raise IgnoredEvent("a checkout Backline did not create")
    if obj.get("payment_status") not in ("paid", "no_payment_required"):
        return checkout  # an asynchronous payment: the subscription's events will tell
    checkout.paid = True
    checkout.completed_at = utcnow()
    subscription_id = obj.get("subscription")
    if isinstance(subscription_id, str):
        _apply(
            session,
            org_id=checkout.org_id,
            subscription_id=subscription_id,
            customer_id=obj.get("customer"),
            tier=Tier(checkout.tier),
            status="active",
            period_end=None,
            created=_created(event),
        )
    session.flush()
    return checkout


def subscription_changed(
    *, session: Session, event: dict[str, Any], prices: dict[str, Tier]
) -> BillingSubscription:
    """`customer.subscription.created/updated/deleted`: the tier follows the subscription."""
    obj = event["data"]["object"]
    subscription_id = str(obj.get("id"))
    known = session.scalar(
        select(BillingSubscription)
        .where(BillingSubscription.stripe_subscription_id == subscription_id)
        .with_for_update()
    )
    org_id = known.org_id if known else _org_from_metadata(session, obj)
    status = "canceled" if event["type"].endswith(".deleted") else str(obj.get("status"))
    period_end = obj.get("current_period_end")
    return _apply(
        session,
        org_id=org_id,
        subscription_id=subscription_id,
        customer_id=obj.get("customer"),
        tier=_tier_of(obj, prices, known),
        status=status,
        period_end=datetime.fromtimestamp(period_end, UTC) if period_end else None,
        created=_created(event),
    )


def _org_from_metadata(session: Session, obj: dict[str, Any]) -> uuid.UUID:
    # Backline puts the organisation's id on the subscription when it creates the checkout.
    try:
        org_id = uuid.UUID(str((obj.get("metadata") or {}).get("org_id")))
    except ValueError:
        raise IgnoredEvent("a subscription Backline did not create") from None
    if session.get(Organization, org_id) is None:
        raise IgnoredEvent("the subscription's organisation no longer exists")
    return org_id


def _tier_of(
    obj: dict[str, Any], prices: dict[str, Tier], known: BillingSubscription | None
) -> Tier:
    for item in (obj.get("items") or {}).get("data") or []:
        tier = prices.get(str((item.get("price") or {}).get("id")))
        if tier is not None:
            return tier
    named = (obj.get("metadata") or {}).get("tier")
    if named in {t.value for t in PAID_TIERS}:
        return Tier(named)
    if known is not None:
        return Tier(known.tier)
    raise IgnoredEvent("a subscription to no price Backline sells")


def _apply(
    session: Session,
    *,
    org_id: uuid.UUID,
    subscription_id: str,
    customer_id: Any,
    tier: Tier,
    status: str,
    period_end: datetime | None,
    created: datetime,
) -> BillingSubscription:
    row = session.get(BillingSubscription, org_id, with_for_update=True)
    if row is not None and row.stripe_subscription_id == subscription_id:
        if created < row.event_created_at:
            return row  # stale: a later event was applied already
    elif row is not None and status not in PAYING:
        return row  # the end of a subscription the organisation has since replaced
    if row is None:
        row = BillingSubscription(org_id=org_id)
        session.add(row)
    row.stripe_subscription_id = subscription_id
    row.stripe_customer_id = customer_id if isinstance(customer_id, str) else None
    row.tier = tier.value
    row.status = status
    row.current_period_end = period_end or row.current_period_end
    row.event_created_at = created
    org = session.get_one(Organization, org_id, with_for_update=True)
    if status in PAYING:
        org.tier = tier
        org.trial_ends_at = None  # paying ends the trial
    elif status in ENDED:
        org.tier = Tier.FREE
    session.flush()
    return row


# -- a person leaving ------------------------------------------------------------------------
def export_checkouts(session: Session, person: Person) -> list[dict[str, Any]]:
    """The checkouts the person started."""
    rows = session.scalars(
        select(BillingCheckout)
        .where(BillingCheckout.created_by == person.user_id)
        .order_by(BillingCheckout.created_at)
    )
    return [
        {"id": c.id, "tier": c.tier, "paid": c.paid, "created_at": c.created_at.isoformat()}
        for c in rows
    ]


@personal_data("billing", export=export_checkouts)
def erase_checkouts(session: Session, person: Person) -> None:
    """A checkout stays its organisation's; who started it is forgotten."""
    session.execute(
        update(BillingCheckout)
        .where(BillingCheckout.created_by == person.user_id)
        .values(created_by=None)
        .execution_options(synchronize_session=False)
    )
