"""The billing domain's background work: Stripe's signed events set an organisation's tier,
and a periodic job returns expired trials to free (models/billing.py has the rules)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from config import Settings
from models import billing
from models.core.quotas import Tier
from workers.core.context import JobContext
from workers.core.periodic import periodic
from workers.core.webhooks import ReceivedEvent, webhook_handler

log = logging.getLogger("backline.billing")


def prices(settings: Settings) -> dict[str, Tier]:
    """Stripe's price ids of the paid tiers."""
    return {
        settings.stripe_price_creator: Tier.CREATOR,
        settings.stripe_price_professional: Tier.PROFESSIONAL,
    }


@webhook_handler("stripe", "checkout.session.completed")
def checkout_completed(session: Session, event: ReceivedEvent, settings: Settings) -> None:
    """A checkout Backline created was paid: its tier starts."""
    try:
        billing.checkout_completed(session=session, event=event.json())
    except billing.IgnoredEvent as why:
        log.info("stripe event ignored", extra={"event": event.message_id, "why": str(why)})


@webhook_handler(
    "stripe",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
def subscription_changed(session: Session, event: ReceivedEvent, settings: Settings) -> None:
    """The organisation's tier follows its subscription's price and status."""
    try:
        billing.subscription_changed(session=session, event=event.json(), prices=prices(settings))
    except billing.IgnoredEvent as why:
        log.info("stripe event ignored", extra={"event": event.message_id, "why": str(why)})


@periodic(
    "billing.expire_trials",
    every_s=300,
    queue="default",
    max_attempts=3,
    time_limit_ms=5 * 60 * 1000,
)
def expire_trials(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Return organisations whose trial ended, and which pay for nothing, to the free tier."""
    with ctx.sessions.begin() as session:
        ended = billing.expire_trials(session=session)
    return {"returned_to_free": ended}
