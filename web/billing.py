"""/api/v1/orgs/<id>/billing: an organisation's tier, trial and subscription; buying a paid
tier through a Stripe checkout; and asking whether a checkout cleared.

Only Stripe's signed events change the tier (workers/billing.py): the checkout endpoint hands
back Stripe's page, and nothing the client sends afterwards is believed. Members read;
owners and admins buy. Another organisation's id, or its checkout's, is a 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from models import billing
from models.billing import PAID_TIERS, BillingCheckout
from models.core.access import Role
from models.core.errors import InvalidInput
from models.core.quotas import Tier
from models.orgs import get_membership, require_role
from web.core.auth import BEARER, auth_required
from web.core.context import db, platform
from web.core.errors import error_response
from workers.clients.stripe import StripeError, create_checkout_session

blp = Blueprint(
    "billing",
    __name__,
    url_prefix="/api/v1/orgs/<uuid:org_id>/billing",
    description="Trials, paid tiers and Stripe checkouts.",
)


# -- schemas ---------------------------------------------------------------------------------
class PriceRead(Schema):
    tier = fields.Enum(Tier, by_value=True, required=True)
    monthly_usd = fields.Decimal(required=True, as_string=True)


class SubscriptionRead(Schema):
    tier = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "Stripe's status."})
    current_period_end = fields.DateTime(allow_none=True)


class BillingRead(Schema):
    tier = fields.Enum(Tier, by_value=True, required=True)
    trial_ends_at = fields.DateTime(allow_none=True)
    trial_days_left = fields.Integer(allow_none=True)
    subscription = fields.Nested(SubscriptionRead, allow_none=True)
    prices = fields.List(fields.Nested(PriceRead), required=True)


class CheckoutCreate(Schema):
    tier = fields.Enum(Tier, by_value=True, required=True)


class CheckoutRead(Schema):
    id = fields.String(required=True)
    tier = fields.String(required=True)
    url = fields.String(required=True, metadata={"description": "Stripe's checkout page."})
    paid = fields.Boolean(
        required=True, metadata={"description": "Stripe's signed event said it was paid."}
    )
    created_at = fields.DateTime(required=True)
    completed_at = fields.DateTime(allow_none=True)


# -- views -----------------------------------------------------------------------------------
@blp.route("")
class Billing(MethodView):
    @blp.response(200, BillingRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, org_id: uuid.UUID) -> dict[str, Any]:
        """The organization's tier, trial and subscription, and the paid tiers' prices"""
        get_membership(session=db(), org_id=org_id, user_id=g.user.id)
        state = billing.billing_state(session=db(), org_id=org_id)
        return {
            "tier": state.tier,
            "trial_ends_at": state.trial_ends_at,
            "trial_days_left": state.trial_days_left,
            "subscription": state.subscription,
            "prices": [{"tier": t, "monthly_usd": p} for t, p in PAID_TIERS.items()],
        }


@blp.route("/checkout")
class Checkout(MethodView):
    @blp.arguments(CheckoutCreate)
    @blp.response(201, CheckoutRead)
    @blp.alt_response(503, description="Stripe could not be reached; try again.")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any], org_id: uuid.UUID) -> BillingCheckout:
        """Buy a paid tier: a Stripe checkout page (owners and admins)"""
        session = db()
        require_role(get_membership(session=session, org_id=org_id, user_id=g.user.id), Role.ADMIN)
        tier = billing.paid_tier(body["tier"].value)
        settings = platform().settings
        price = {
            Tier.CREATOR: settings.stripe_price_creator,
            Tier.PROFESSIONAL: settings.stripe_price_professional,
        }[tier]
        returning = settings.billing_return_url
        try:
            created = create_checkout_session(
                settings,
                price=price,
                metadata={"org_id": str(org_id), "tier": tier.value},
                success_url=f"{returning}?checkout={{CHECKOUT_SESSION_ID}}",
                cancel_url=f"{returning}?checkout=cancelled",
                client_reference_id=str(org_id),
                customer_email=g.user.email,
            )
        except StripeError as exc:
            if exc.transient:  # the one error shape, as a 503 the client may retry
                return error_response(  # type: ignore[return-value]
                    503,
                    "payment_provider_unavailable",
                    "Stripe could not be reached; try again in a moment",
                    headers={"Retry-After": "5"},
                )
            raise InvalidInput(f"Stripe refused the checkout: {exc}") from None
        checkout = billing.record_checkout(
            session=session,
            checkout_id=str(created["id"]),
            org_id=org_id,
            created_by=g.user.id,
            tier=tier,
            url=str(created["url"]),
        )
        session.commit()
        return checkout


@blp.route("/checkouts/<string:checkout_id>")
class CheckoutItem(MethodView):
    @blp.response(200, CheckoutRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, org_id: uuid.UUID, checkout_id: str) -> BillingCheckout:
        """One of the organization's checkouts: whether it cleared"""
        get_membership(session=db(), org_id=org_id, user_id=g.user.id)
        return billing.checkout_of(session=db(), org_id=org_id, checkout_id=checkout_id[:255])


blueprints = [blp]
