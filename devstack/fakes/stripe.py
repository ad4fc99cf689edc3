"""A local Stripe: checkout sessions, a page that pays them, subscriptions, and the signed
events Stripe posts to a webhook endpoint.

Speaks Stripe's formats: form-encoded requests with `Authorization: Bearer sk_…`, objects
with `id`/`object`, errors as `{"error": {"type", "code", "message", "param"}}` (401 for a
missing key, 400 for a missing parameter, 404 for an unknown id). Events are
`{"id": "evt_…", "object": "event", "type", "created", "data": {"object": …}}`, signed as
Stripe signs them (`Stripe-Signature: t=…,v1=<HMAC-SHA256 of "t.body">`).

    POST   /v1/checkout/sessions         a subscription checkout; its `url` is the page below
    GET    /v1/checkout/sessions/<id>
    GET    /c/pay/<id>                   the checkout page (a Pay button)
    POST   /c/pay/<id>                   pays: checkout.session.completed and
                                         customer.subscription.created are sent
    POST   /v1/subscriptions/<id>        items[0][price]=…: customer.subscription.updated
    DELETE /v1/subscriptions/<id>        cancels: customer.subscription.deleted
    GET    /v1/events                    every event sent, newest first

Under `make run` events go to the API's /api/v1/webhooks/stripe (on PORT), signed with the
secret this fake sets as STRIPE_WEBHOOK_SECRET. Tests make it with `send=False` and read
`fake.sent` (each event's body and headers) to post them themselves.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import html
import json
import os
import secrets
import threading
import time
from typing import Any

import httpx
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from devstack.fakes import Fake

FAKE_WEBHOOK_SECRET = "whsec_backline_devstack_fake_stripe"  # noqa: S105 - the fake's own
FAKE_API_KEY = "sk_test_backline_fake"


def _id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


def _error(status: int, message: str, *, code: str | None = None, param: str | None = None):
    body = {"type": "invalid_request_error", "message": message, "code": code, "param": param}
    return Response(json.dumps({"error": body}), status, content_type="application/json")


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status, content_type="application/json")


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={v1}"


def _nested(form: dict[str, str], prefix: str) -> dict[str, str]:
    """`metadata[k]=v` form fields as {k: v}."""
    return {
        key[len(prefix) + 1 : -1]: value
        for key, value in form.items()
        if key.startswith(prefix + "[") and key.endswith("]") and "][" not in key[len(prefix) :]
    }


class StripeFake:
    """The WSGI app, with the state of one Stripe account."""

    def __init__(self, webhook_url: str | None, secret: str, send: bool) -> None:
        self.webhook_url = webhook_url
        self.secret = secret
        self.send = send
        self.sessions: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.sent: list[tuple[bytes, dict[str, str]]] = []
        self._lock = threading.Lock()
        self.urls = Map(
            [
                Rule("/v1/checkout/sessions", endpoint="create_session", methods=["POST"]),
                Rule("/v1/checkout/sessions/<sid>", endpoint="get_session", methods=["GET"]),
                Rule("/c/pay/<sid>", endpoint="page", methods=["GET"]),
                Rule("/c/pay/<sid>", endpoint="pay", methods=["POST"]),
                Rule("/v1/subscriptions/<sub>", endpoint="update_sub", methods=["POST"]),
                Rule("/v1/subscriptions/<sub>", endpoint="cancel_sub", methods=["DELETE"]),
                Rule("/v1/events", endpoint="list_events", methods=["GET"]),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            endpoint, args = self.urls.bind_to_environ(environ).match()
            if endpoint not in ("page", "pay") and not request.headers.get(
                "Authorization", ""
            ).startswith("Bearer sk_"):
                response = _error(401, "You did not provide an API key.")
            else:
                with self._lock:
                    response = getattr(self, endpoint)(request, **args)
        except HTTPException as exc:
            response = _error(exc.code or 500, exc.description or "error")
        return response(environ, start_response)

    # -- checkout --------------------------------------------------------------------------
    def create_session(self, request: Request) -> Response:
        form = request.form.to_dict()
        for param in ("mode", "success_url", "line_items[0][price]"):
            if not form.get(param):
                return _error(
                    400, f"Missing required param: {param}.", code="parameter_missing", param=param
                )
        sid = _id("cs")
        session = {
            "id": sid,
            "object": "checkout.session",
            "mode": form["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "url": f"{request.host_url.rstrip('/')}/c/pay/{sid}",
            "success_url": form["success_url"],
            "cancel_url": form.get("cancel_url"),
            "client_reference_id": form.get("client_reference_id"),
            "customer_email": form.get("customer_email"),
            "metadata": _nested(form, "metadata"),
            "customer": None,
            "subscription": None,
            "_price": form["line_items[0][price]"],
            "_subscription_metadata": _nested(form, "subscription_data[metadata]"),
        }
        self.sessions[sid] = session
        return _json(self._public(session))

    def get_session(self, request: Request, sid: str) -> Response:
        if sid not in self.sessions:
            return _error(404, f"No such checkout.session: '{sid}'", code="resource_missing")
        return _json(self._public(self.sessions[sid]))

    def page(self, request: Request, sid: str) -> Response:
        if sid not in self.sessions:
            return Response("no such checkout", 404)
        price = html.escape(self.sessions[sid]["_price"])
        return Response(
            f"<!doctype html><title>Fake Stripe checkout</title><h1>Subscribe: {price}</h1>"
            f'<form method="post"><button>Pay</button></form>',
            content_type="text/html",
        )

    def pay(self, request: Request, sid: str) -> Response:
        session = self.sessions.get(sid)
        if session is None:
            return Response("no such checkout", 404)
        if session["status"] == "open":
            session.update(status="complete", payment_status="paid", customer=_id("cus"))
            sub = self._new_subscription(session)
            session["subscription"] = sub["id"]
            self._emit("checkout.session.completed", self._public(session))
            self._emit("customer.subscription.created", sub)
        target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", sid)
        return Response(status=303, headers={"Location": target})

    # -- subscriptions ---------------------------------------------------------------------
    def _new_subscription(self, session: dict[str, Any]) -> dict[str, Any]:
        sub = {
            "id": _id("sub"),
            "object": "subscription",
            "customer": session["customer"],
            "status": "active",
            "metadata": session["_subscription_metadata"],
            "items": {"object": "list", "data": [{"price": {"id": session["_price"]}}]},
            "current_period_end": int(time.time()) + 30 * 86400,
        }
        self.subscriptions[sub["id"]] = sub
        return sub

    def update_sub(self, request: Request, sub: str) -> Response:
        found = self.subscriptions.get(sub)
        if found is None:
            return _error(404, f"No such subscription: '{sub}'", code="resource_missing")
        price = request.form.get("items[0][price]")
        if price:
            found["items"]["data"] = [{"price": {"id": price}}]
        self._emit("customer.subscription.updated", found)
        return _json(found)

    def cancel_sub(self, request: Request, sub: str) -> Response:
        found = self.subscriptions.get(sub)
        if found is None:
            return _error(404, f"No such subscription: '{sub}'", code="resource_missing")
        found["status"] = "canceled"
        self._emit("customer.subscription.deleted", found)
        return _json(found)

    def list_events(self, request: Request) -> Response:
        return _json({"object": "list", "data": self.events[::-1], "has_more": False})

    # -- events ----------------------------------------------------------------------------
    @staticmethod
    def _public(session: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in session.items() if not k.startswith("_")}

    def _emit(self, event_type: str, obj: dict[str, Any]) -> None:
        event = {
            "id": _id("evt"),
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": json.loads(json.dumps(obj))},
        }
        self.events.append(event)
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body, self.secret)}
        self.sent.append((body, headers))
        if self.send:
            url = self.webhook_url or (
                f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/api/v1/webhooks/stripe"
            )
            # Stripe would retry; GET /v1/events lists it anyway.
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(url, content=body, headers=headers, timeout=5)


def create_app(
    webhook_url: str | None = None, secret: str = FAKE_WEBHOOK_SECRET, send: bool = True
) -> StripeFake:
    return StripeFake(webhook_url, secret, send)


FAKE = Fake(
    name="Stripe",
    base_url_variable="STRIPE_API_BASE_URL",
    key_variable="STRIPE_API_KEY",
    create_app=create_app,
    env={"STRIPE_API_KEY": FAKE_API_KEY, "STRIPE_WEBHOOK_SECRET": FAKE_WEBHOOK_SECRET},
)
