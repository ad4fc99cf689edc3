"""A fan's paid subscription to an artist: the Stripe checkout Backline creates for it, and
the signed events that make the fan paid (and free again when the subscription ends).

Nothing a client sends makes a fan paid: only `checkout.session.completed` with the payment
made, for a checkout recorded here. Each event is applied once (the webhook store is unique
by event id, and a completed checkout is not completed again). The fan is found by the
address the checkout was started with; one not on the list yet is added as paid, without
consent to be mailed (that stays the double opt-in's).

A fan taken off the list (the artist's choice, or the fan's request to be forgotten) leaves
their checkouts behind for the books (Stripe's ids, whether and when it was paid and ended)
without the address: it is blanked, and an event for such a checkout changes no fan.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, select, update
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.core.addresses import normalise_email
from models.core.base import Base, now_ts, utcnow
from models.core.errors import NotFound
from models.core.fields import text_problem
from models.fans.fans import Fan, FanStatus, get_fan
from models.fans.pages import ArtistPage

CHECKOUT_ID_MAX = 255
PAID_STATUSES = ("paid", "no_payment_required")
FORGOTTEN = ""  # the address of a checkout whose fan was removed


class FanCheckout(Base):
    """A Stripe checkout session Backline created for a fan of an artist."""

    __tablename__ = "fan_checkouts"
    __table_args__ = (
        Index("ix_fan_checkouts_org_id", "org_id", "created_at"),
        Index("ix_fan_checkouts_org_id_email", "org_id", "email"),
        Index(
            "ix_fan_checkouts_stripe_subscription_id",
            "stripe_subscription_id",
            unique=True,
            postgresql_where="stripe_subscription_id IS NOT NULL",
        ),
    )

    id: Mapped[str] = mapped_column(String(CHECKOUT_ID_MAX), primary_key=True)  # Stripe's cs_…
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(String(320))
    url: Mapped[str] = mapped_column(Text)
    paid: Mapped[bool] = mapped_column(Boolean, server_default="false")
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[now_ts]
    completed_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]  # its subscription was deleted


class IgnoredEvent(Exception):
    """A verified event that is not about a fan's checkout (logged, not failed)."""


def record_checkout(
    *, session: Session, checkout_id: str, org_id: uuid.UUID, email: str, url: str
) -> FanCheckout:
    checkout = FanCheckout(id=checkout_id, org_id=org_id, email=normalise_email(email), url=url)
    session.add(checkout)
    session.flush()
    return checkout


def remove_fan(*, session: Session, org_id: uuid.UUID, fan_id: uuid.UUID) -> None:
    """Take a fan off the artist's list; their checkouts stay, without the address."""
    fan = get_fan(session=session, org_id=org_id, fan_id=fan_id)
    session.execute(
        update(FanCheckout)
        .where(FanCheckout.org_id == org_id, FanCheckout.email == fan.email)
        .values(email=FORGOTTEN)
        .execution_options(synchronize_session=False)
    )
    session.delete(fan)
    session.flush()


def public_checkout(*, session: Session, checkout_id: str) -> tuple[FanCheckout, str]:
    """A fan's checkout and its artist's slug; NotFound for any id Backline did not make for
    a fan (a billing checkout's included)."""
    if text_problem(checkout_id):  # a NUL or a lone surrogate: no id Backline made
        raise NotFound("checkout not found")
    found = session.execute(
        select(FanCheckout, ArtistPage.slug)
        .join(ArtistPage, ArtistPage.org_id == FanCheckout.org_id)
        .where(FanCheckout.id == checkout_id[:CHECKOUT_ID_MAX])
    ).first()
    if found is None:
        raise NotFound("checkout not found")
    return found[0], found[1]


def checkout_completed(*, session: Session, event: dict[str, Any]) -> FanCheckout:
    """`checkout.session.completed`: the fan who paid becomes (or is added as) a paid fan."""
    obj = event["data"]["object"]
    checkout = session.get(FanCheckout, str(obj.get("id"))[:CHECKOUT_ID_MAX], with_for_update=True)
    if checkout is None:
        raise IgnoredEvent("not a fan's checkout")
    if checkout.paid or obj.get("payment_status") not in PAID_STATUSES:
        return checkout  # applied already, or an asynchronous payment still on its way
    checkout.paid = True
    checkout.completed_at = utcnow()
    subscription = obj.get("subscription")
    checkout.stripe_subscription_id = subscription if isinstance(subscription, str) else None
    if checkout.email != FORGOTTEN:  # a removed fan is not put back on the list
        _set_status(session, checkout, FanStatus.PAID, add_missing=True)
    session.flush()
    return checkout


def subscription_ended(*, session: Session, event: dict[str, Any]) -> FanCheckout:
    """`customer.subscription.deleted`: the fan it paid for is free again."""
    subscription_id = str(event["data"]["object"].get("id"))
    checkout = session.scalar(
        select(FanCheckout)
        .where(FanCheckout.stripe_subscription_id == subscription_id)
        .with_for_update()
    )
    if checkout is None:
        raise IgnoredEvent("not a fan's subscription")
    checkout.ended_at = checkout.ended_at or utcnow()
    session.flush()
    if checkout.email != FORGOTTEN and not _still_paying(session, checkout):
        _set_status(session, checkout, FanStatus.FREE, add_missing=False)
    return checkout


def _still_paying(session: Session, checkout: FanCheckout) -> bool:
    """Whether the fan has another paid subscription to the artist that has not ended (a fan
    who subscribed twice and cancels one stays paid)."""
    other = session.scalar(
        select(FanCheckout.id).where(
            FanCheckout.org_id == checkout.org_id,
            FanCheckout.email == checkout.email,
            FanCheckout.paid.is_(True),
            FanCheckout.ended_at.is_(None),
            FanCheckout.id != checkout.id,
        )
    )
    return other is not None


def _set_status(
    session: Session, checkout: FanCheckout, status: FanStatus, *, add_missing: bool
) -> None:
    if add_missing:
        session.execute(
            insert(Fan)
            .values(
                org_id=checkout.org_id,
                email=checkout.email,
                status=status.value,
                source="paid_subscription",
            )
            .on_conflict_do_update(
                constraint="uq_fans_org_id_email",
                set_={"status": status.value, "updated_at": utcnow()},
            )
        )
        return
    session.execute(
        update(Fan)
        .where(Fan.org_id == checkout.org_id, Fan.email == checkout.email)
        .values(status=status.value, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
