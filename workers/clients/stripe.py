"""Stripe's API: creating the checkout session that sells an organisation a paid tier.

Form-encoded requests with the secret key as a bearer token, as Stripe's own libraries send
them, to STRIPE_API_BASE_URL (the fake in devstack/fakes/stripe.py when no key is set). An
error answer carries `{"error": {"type", "code", "message", "param"}}`; it becomes a
StripeError with Stripe's status, and 429 and 5xx answers and lost connections count as
transient (the caller may try again) while the other 4xx are permanent.
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx

from config import Settings

TIMEOUT_S = 10.0


class StripeError(Exception):
    """Stripe refused the request, or could not be reached."""

    def __init__(self, message: str, *, status: int | None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def transient(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


def _post(settings: Settings, path: str, form: dict[str, str]) -> dict[str, Any]:
    try:
        response = httpx.post(
            settings.stripe_api_base_url.rstrip("/") + path,
            data=form,
            headers={"Authorization": f"Bearer {settings.stripe_api_key}"},
            timeout=TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        raise StripeError(
            f"Stripe could not be reached: {type(exc).__name__}", status=None
        ) from exc
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    if response.is_success and isinstance(body, dict):
        return body
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    raise StripeError(
        str(error.get("message") or f"Stripe answered {response.status_code}"),
        status=response.status_code,
        code=error.get("code"),
    )


def create_checkout_session(
    settings: Settings,
    *,
    price: str,
    metadata: dict[str, str],
    success_url: str,
    cancel_url: str,
    client_reference_id: str,
    customer_email: str | None = None,
) -> dict[str, Any]:
    """A subscription checkout for one unit of `price`; Stripe's checkout.session object.
    `metadata` goes on the session and on the subscription it creates."""
    form = {
        "mode": "subscription",
        "line_items[0][price]": price,
        "line_items[0][quantity]": "1",
        "success_url": success_url,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
    }
    if customer_email:
        form["customer_email"] = customer_email
    for key, value in metadata.items():
        form[f"metadata[{key}]"] = value
        form[f"subscription_data[metadata][{key}]"] = value
    return _post(settings, "/v1/checkout/sessions", form)
