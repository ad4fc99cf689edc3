"""A fan's paid subscription from an artist's public page, for anyone (no token).

POST /api/v1/public/artists/<slug>/checkouts hands back Stripe's checkout page; the fan is
made paid only by Stripe's signed event (workers/fans.py), never by anything a client sends.
GET /api/v1/public/checkouts/<id> (the id Stripe puts in the return URL) answers whether it
cleared, and nothing else: no address, no amount. Checkouts are counted per IP (429).
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from models.core.errors import InvalidInput
from models.fans import checkouts, pages
from web.core import limits
from web.core.context import db, platform
from web.core.errors import error_response
from web.core.fields import EmailAddress
from workers.clients.stripe import StripeError, create_checkout_session

blp = Blueprint(
    "fan_checkouts",
    __name__,
    url_prefix="/api/v1/public",
    description="A fan's paid subscription to an artist, through a Stripe checkout.",
)


class FanCheckoutCreate(Schema):
    email = EmailAddress(required=True)


class FanCheckoutCreated(Schema):
    id = fields.String(required=True, metadata={"description": "Stripe's checkout id."})
    url = fields.String(required=True, metadata={"description": "Stripe's checkout page."})


class FanCheckoutRead(Schema):
    id = fields.String(required=True)
    artist = fields.String(required=True, metadata={"description": "The artist's page slug."})
    paid = fields.Boolean(
        required=True, metadata={"description": "Stripe's signed event said it was paid."}
    )


@blp.route("/artists/<string:slug>/checkouts")
class FanCheckouts(MethodView):
    @limits.per_ip("rate_limit_fan_checkout")
    @blp.arguments(FanCheckoutCreate)
    @blp.response(201, FanCheckoutCreated)
    @blp.alt_response(429, description="Too many checkouts from this IP.")
    @blp.alt_response(503, description="Stripe could not be reached; try again.")
    def post(self, body: dict[str, Any], slug: str) -> dict[str, str]:
        """Subscribe to an artist as a paying fan: a Stripe checkout page"""
        session = db()
        page = pages.published_page(session=session, slug=slug)
        settings = platform().settings
        returning = f"{settings.fan_checkout_return_url.rstrip('/')}/{page.slug}"
        try:
            created = create_checkout_session(
                settings,
                price=settings.stripe_price_fan,
                # No org_id: billing reads that as an organisation buying a tier.
                metadata={"artist": page.slug, "purpose": "fan_subscription"},
                success_url=f"{returning}?checkout={{CHECKOUT_SESSION_ID}}",
                cancel_url=f"{returning}?checkout=cancelled",
                client_reference_id=page.slug,
                customer_email=body["email"],
            )
        except StripeError as exc:
            if exc.transient:
                return error_response(  # type: ignore[return-value]
                    503,
                    "payment_provider_unavailable",
                    "Stripe could not be reached; try again in a moment",
                    headers={"Retry-After": "5"},
                )
            raise InvalidInput(f"Stripe refused the checkout: {exc}") from None
        checkout = checkouts.record_checkout(
            session=session,
            checkout_id=str(created["id"]),
            org_id=page.org_id,
            email=body["email"],
            url=str(created["url"]),
        )
        session.commit()
        return {"id": checkout.id, "url": checkout.url}


@blp.route("/checkouts/<string:checkout_id>")
class FanCheckoutItem(MethodView):
    @limits.per_ip("rate_limit_fan_checkout_read")
    @blp.response(200, FanCheckoutRead)
    def get(self, checkout_id: str) -> dict[str, Any]:
        """Whether a fan's checkout cleared (its id is in Stripe's return URL)"""
        checkout, slug = checkouts.public_checkout(session=db(), checkout_id=checkout_id)
        return {"id": checkout.id, "artist": slug, "paid": checkout.paid}
