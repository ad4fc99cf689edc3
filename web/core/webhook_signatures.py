"""How each webhook sender signs, and checking that it did: Standard Webhooks (Resend, Svix),
Stripe, Upstash QStash and SendGrid's ECDSA event webhook.

A scheme takes the request's headers and raw body (the exact bytes: never re-serialised JSON)
and answers what the rest of the platform needs to know (the message id that makes a replay
recognisable, the event type), or raises `Unverified`. Every comparison of a signature is
constant-time; every scheme with a timestamp refuses one outside the tolerance, both ways.
The reason a request failed is logged and counted, never sent back to the sender.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

MAX_ID_CHARS = 200
MAX_TYPE_CHARS = 200


class Unverified(Exception):
    """The request is not provably from the sender; `reason` is for logs and metrics only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    """What a verified request tells us beyond its body."""

    message_id: str  # the sender's id for the message: the same on its retries
    event_type: str
    token_id: str | None = None  # a signed, single-use id of this delivery (QStash's jti)


class Scheme(Protocol):
    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified: ...


def _header(headers: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = headers.get(name)
        if value:
            return value
    raise Unverified("missing_header")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _event_type(body: bytes, default: str) -> str:
    parsed = _json(body)
    found = parsed.get("type") if isinstance(parsed, dict) else None
    return found[:MAX_TYPE_CHARS] if isinstance(found, str) and found else default


def _timestamp(raw: str, now: float, tolerance_s: int) -> int:
    try:
        ts = int(raw)
    except ValueError:
        raise Unverified("bad_timestamp") from None
    if ts < now - tolerance_s:
        raise Unverified("timestamp_too_old")
    if ts > now + tolerance_s:
        raise Unverified("timestamp_in_future")
    return ts


def _message_id(value: str) -> str:
    if not value or len(value) > MAX_ID_CHARS or "." in value:
        raise Unverified("bad_message_id")
    return value


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


# -- Standard Webhooks (Resend, Svix) --------------------------------------------------------
def standard_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret."""
    return base64.b64decode(secret.removeprefix("whsec_"))


@dataclass(frozen=True)
class StandardWebhooks:
    """`webhook-id/-timestamp/-signature` (or Svix's `svix-*` names); HMAC-SHA256 over
    `id.timestamp.body`; the signature header lists `v1,<base64>` entries, space-separated."""

    secrets: Sequence[str]
    tolerance_s: int = 300

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        msg_id = _message_id(_header(headers, "webhook-id", "svix-id"))
        raw_ts = _header(headers, "webhook-timestamp", "svix-timestamp")
        signatures = _header(headers, "webhook-signature", "svix-signature")
        _timestamp(raw_ts, now, self.tolerance_s)
        signed = f"{msg_id}.{raw_ts}.".encode() + body
        expected = [base64.b64encode(_hmac_sha256(standard_key(s), signed)) for s in self.secrets]
        for entry in signatures.split(" "):
            version, _, signature = entry.partition(",")
            if version != "v1":
                continue
            given = signature.encode()
            if any(hmac.compare_digest(given, e) for e in expected):
                return Verified(msg_id, _event_type(body, "unknown"))
        raise Unverified("no_matching_signature")


# -- Stripe ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stripe:
    """`Stripe-Signature: t=<ts>,v1=<hex>[,v1=…]`; HMAC-SHA256 over `t.body`, keyed with the
    whole `whsec_…` string. Other schemes (`v0`) are ignored. The event id is the message id."""

    secrets: Sequence[str]
    tolerance_s: int = 300

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        header = _header(headers, "stripe-signature")
        items = [item.partition("=") for item in header.split(",")]
        stamps = [value for key, _, value in items if key.strip() == "t"]
        given = [value.strip().encode() for key, _, value in items if key.strip() == "v1"]
        if len(stamps) != 1 or not given:
            raise Unverified("malformed_signature")
        _timestamp(stamps[0], now, self.tolerance_s)
        signed = f"{stamps[0]}.".encode() + body
        expected = [_hmac_sha256(s.encode(), signed).hex().encode() for s in self.secrets]
        if not any(hmac.compare_digest(g, e) for g in given for e in expected):
            raise Unverified("no_matching_signature")
        event = _json(body)
        event_id = event.get("id") if isinstance(event, dict) else None
        if not isinstance(event_id, str):
            raise Unverified("no_event_id")  # signed, yet not an event: nothing to process
        return Verified(_message_id(event_id), _event_type(body, "unknown"))


# -- Upstash QStash --------------------------------------------------------------------------
def qstash_body_hash(body: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class QStash:
    """`Upstash-Signature`: an HS256 JWT signed with the current key, or the next one while
    keys roll; iss "Upstash", exp and nbf checked, `body` the base64url SHA-256 of the body,
    `sub` the URL it was sent to (checked when `url` is set)."""

    current_key: str
    next_key: str = ""
    url: str = ""

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        token = _header(headers, "upstash-signature")
        claims = self._claims(token)  # exp and nbf against the clock, as QStash means
        if self.url and claims.get("sub") != self.url:
            raise Unverified("wrong_url")
        claimed = str(claims.get("body", "")).rstrip("=").encode()
        if not hmac.compare_digest(claimed, qstash_body_hash(body).encode()):
            raise Unverified("body_hash_mismatch")
        jti = claims.get("jti")
        token_id = _message_id(jti) if isinstance(jti, str) else None
        msg_id = headers.get("upstash-message-id") or token_id
        if msg_id is None:
            raise Unverified("bad_message_id")
        return Verified(_message_id(msg_id), _event_type(body, "message"), token_id)

    def _claims(self, token: str) -> dict[str, Any]:
        for key in (k for k in (self.current_key, self.next_key) if k):
            try:
                return jwt.decode(  # type: ignore[no-any-return]
                    token,
                    key,
                    algorithms=["HS256"],
                    issuer="Upstash",
                    options={"require": ["iss", "sub", "exp", "nbf"], "verify_iat": False},
                )
            except jwt.InvalidSignatureError:
                continue  # perhaps signed with the next key
            except jwt.PyJWTError as exc:
                raise Unverified(f"token_{type(exc).__name__}") from None
        raise Unverified("no_matching_signature")


# -- SendGrid --------------------------------------------------------------------------------
def sendgrid_public_key(value: str) -> ec.EllipticCurvePublicKey:
    """The key SendGrid shows: base64 of the DER SubjectPublicKeyInfo of a P-256 key."""
    key = load_der_public_key(base64.b64decode(value))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an elliptic-curve public key")
    return key


@dataclass(frozen=True)
class SendGrid:
    """`X-Twilio-Email-Event-Webhook-Signature` (base64 DER ECDSA P-256/SHA-256 over
    `timestamp + body`) and `-Timestamp`. The body is an array of events, each with its own
    `sg_event_id`; the request's id is the digest of what was signed, so an identical
    replay is recognised."""

    public_keys: Sequence[str]
    tolerance_s: int = 300

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        prefix = "x-twilio-email-event-webhook-"
        signature = _header(headers, prefix + "signature")
        raw_ts = _header(headers, prefix + "timestamp")
        _timestamp(raw_ts, now, self.tolerance_s)
        try:
            der = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            raise Unverified("malformed_signature") from None
        signed = raw_ts.encode() + body
        for value in self.public_keys:
            try:
                sendgrid_public_key(value).verify(der, signed, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                continue
            return Verified("sha256:" + hashlib.sha256(signed).hexdigest(), "events")
        raise Unverified("no_matching_signature")
