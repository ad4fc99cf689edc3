"""Each scheme verifies what the senders' own libraries sign, and refuses every tampered case.

Requests are signed with the reference libraries (standardwebhooks, stripe's
WebhookSignature, PyJWT as QStash mints its tokens, cryptography's ECDSA as SendGrid signs)
and checked against the published test vectors.
"""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
import standardwebhooks
import stripe
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook

from web.core.webhook_signatures import (
    QStash,
    SendGrid,
    StandardWebhooks,
    Stripe,
    Unverified,
    qstash_body_hash,
)

NOW = 1_800_000_000


def refused(scheme: Any, headers: dict[str, str], body: bytes, now: float = NOW) -> str:
    with pytest.raises(Unverified) as caught:
        scheme.verify(headers, body, now)
    return caught.value.reason


# -- Standard Webhooks -----------------------------------------------------------------------
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_OTHER = "whsec_" + base64.b64encode(b"another secret of 32 bytes long!").decode()


def sw_headers(secret: str, body: bytes, *, msg_id: str = "msg_1", ts: int = NOW) -> dict[str, str]:
    signature = standardwebhooks.Webhook(secret).sign(
        msg_id, datetime.fromtimestamp(ts, UTC), body.decode()
    )
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def test_standard_webhooks_matches_the_specs_test_vector() -> None:
    body = b'{"test": 2432232314}'
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    verified = StandardWebhooks([SW_SECRET]).verify(headers, body, 1614265330)
    assert verified.message_id == "msg_p5jXN8AQM9LWM0D4loKWxJek"


def test_standard_webhooks_verifies_the_reference_library_and_svix_names() -> None:
    body = b'{"type":"email.bounced","data":{}}'
    headers = sw_headers(SW_SECRET, body)
    assert StandardWebhooks([SW_SECRET]).verify(headers, body, NOW).event_type == "email.bounced"
    svix = {k.replace("webhook-", "svix-"): v for k, v in headers.items()}
    assert StandardWebhooks([SW_SECRET]).verify(svix, body, NOW).message_id == "msg_1"


def test_standard_webhooks_accepts_either_secret_while_rotating() -> None:
    body = b'{"type":"x"}'
    old = sw_headers(SW_SECRET, body)
    new = sw_headers(SW_OTHER, body)
    both = {**new, "webhook-signature": f"{old['webhook-signature']} {new['webhook-signature']}"}
    scheme = StandardWebhooks([SW_OTHER, SW_SECRET])
    for headers in (old, new, both):
        assert scheme.verify(headers, body, NOW).message_id == "msg_1"
    assert refused(StandardWebhooks([SW_OTHER]), old, body) == "no_matching_signature"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h, b: (h, b[:-1] + b"]"), "no_matching_signature"),  # one byte of the body
        (lambda h, b: ({**h, "webhook-id": "msg_2"}, b), "no_matching_signature"),
        (lambda h, b: ({**h, "webhook-signature": "garbage"}, b), "no_matching_signature"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), "missing_header"),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "bad_timestamp"),
    ],
)
def test_standard_webhooks_refuses_tampering(change: Any, reason: str) -> None:
    body = b'{"type":"x"}'
    headers, body = change(sw_headers(SW_SECRET, body), body)
    assert refused(StandardWebhooks([SW_SECRET]), headers, body) == reason


def test_standard_webhooks_refuses_old_and_future_timestamps() -> None:
    body = b"{}"
    scheme = StandardWebhooks([SW_SECRET], tolerance_s=300)
    assert refused(scheme, sw_headers(SW_SECRET, body, ts=NOW - 301), body) == "timestamp_too_old"
    assert refused(scheme, sw_headers(SW_SECRET, body, ts=NOW + 301), body) == (
        "timestamp_in_future"
    )
    assert scheme.verify(sw_headers(SW_SECRET, body, ts=NOW - 299), body, NOW).message_id


# -- Stripe ----------------------------------------------------------------------------------
ST_SECRET = "whsec_test_secret"


def st_headers(secret: str, body: bytes, ts: int = NOW) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, ts)
    return {"stripe-signature": header}


def test_stripe_matches_the_local_vector() -> None:
    header = "t=1700000000,v1=248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a"
    verified = Stripe([ST_SECRET]).verify({"stripe-signature": header}, b'{"id":"evt_1"}', 1.7e9)
    assert verified.message_id == "evt_1"


def test_stripe_verifies_what_its_library_signs_with_either_secret() -> None:
    body = b'{"id":"evt_9","type":"checkout.session.completed"}'
    scheme = Stripe([ST_SECRET, "whsec_next"])
    for secret in (ST_SECRET, "whsec_next"):
        verified = scheme.verify(st_headers(secret, body), body, NOW)
        assert (verified.message_id, verified.event_type) == ("evt_9", "checkout.session.completed")
    # Stripe adds a fake v0 for test events and may send two v1 while a secret rolls.
    two = (
        st_headers("whsec_unknown", body)["stripe-signature"]
        + ",v0=abc,"
        + (st_headers(ST_SECRET, body)["stripe-signature"].split(",")[1])
    )
    assert Stripe([ST_SECRET]).verify({"stripe-signature": two}, body, NOW).message_id == "evt_9"


def test_stripe_refuses_tampering_and_stale_timestamps() -> None:
    body = b'{"id":"evt_9","type":"x"}'
    scheme = Stripe([ST_SECRET])
    assert refused(scheme, st_headers("whsec_wrong", body), body) == "no_matching_signature"
    assert refused(scheme, st_headers(ST_SECRET, body), body.replace(b"9", b"8")) == (
        "no_matching_signature"
    )
    assert refused(scheme, st_headers(ST_SECRET, body, NOW - 301), body) == "timestamp_too_old"
    assert refused(scheme, st_headers(ST_SECRET, body, NOW + 301), body) == "timestamp_in_future"
    assert refused(scheme, {"stripe-signature": "v1=00"}, body) == "malformed_signature"
    assert refused(scheme, {}, body) == "missing_header"


# -- QStash ----------------------------------------------------------------------------------
CURRENT = "sig_current_key_0123456789abcdef0123"
NEXT = "sig_next_key_0123456789abcdef01234567"


def qstash_token(key: str, body: bytes, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": "Upstash",
        "sub": "https://backline.test/api/v1/webhooks/qstash",
        "exp": now + 300,
        "nbf": now,
        "iat": now,
        "jti": "jwt_67kxXD6UBAk7DqU6hzuHMDdXFXfP",
        "body": base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode(),
    }
    payload.update(claims)
    return jwt.encode(payload, key, algorithm="HS256")


def test_qstash_body_claim_matches_the_documented_example() -> None:
    assert qstash_body_hash(b'{"hello":"world"}') == "k6I5cakU5erL8KjSUVTNownDwccvu5kU1Hxg88toFYg"


def test_qstash_verifies_a_token_of_the_current_or_the_next_key() -> None:
    body = b'{"hello":"world"}'
    scheme = QStash(CURRENT, NEXT, "https://backline.test/api/v1/webhooks/qstash")
    for key in (CURRENT, NEXT):
        headers = {"upstash-signature": qstash_token(key, body), "upstash-message-id": "msg_q"}
        verified = scheme.verify(headers, body, NOW)
        assert (verified.message_id, verified.token_id) == (
            "msg_q",
            "jwt_67kxXD6UBAk7DqU6hzuHMDdXFXfP",
        )
        assert verified.event_type == "message"


@pytest.mark.parametrize(
    ("key", "claims", "body", "reason"),
    [
        ("another_key_0123456789abcdef0123456", {}, b"{}", "no_matching_signature"),
        (CURRENT, {}, b"{} ", "body_hash_mismatch"),
        (CURRENT, {"exp": -1}, b"{}", "token_ExpiredSignatureError"),
        (CURRENT, {"nbf": 60}, b"{}", "token_ImmatureSignatureError"),
        (CURRENT, {"iss": "Someone"}, b"{}", "token_InvalidIssuerError"),
        (CURRENT, {"sub": "https://elsewhere.test/"}, b"{}", "wrong_url"),
    ],
)
def test_qstash_refuses_tampered_tokens(
    key: str, claims: dict[str, Any], body: bytes, reason: str
) -> None:
    # exp and nbf are given as seconds from now (the test may run long after collection).
    claims = {k: int(time.time()) + v if k in ("exp", "nbf") else v for k, v in claims.items()}
    headers = {"upstash-signature": qstash_token(key, b"{}", **claims)}
    scheme = QStash(CURRENT, NEXT, "https://backline.test/api/v1/webhooks/qstash")
    assert refused(scheme, headers, body) == reason


# -- SendGrid --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sendgrid_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(der).decode()


def sg_headers(private: ec.EllipticCurvePrivateKey, body: bytes, ts: int = NOW) -> dict[str, str]:
    signature = private.sign(str(ts).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "x-twilio-email-event-webhook-signature": base64.b64encode(signature).decode(),
        "x-twilio-email-event-webhook-timestamp": str(ts),
    }


def test_sendgrid_agrees_with_its_library_on_signed_and_tampered_bodies(
    sendgrid_key: tuple[ec.EllipticCurvePrivateKey, str],
) -> None:
    private, public = sendgrid_key
    body = b'[{"email":"x@y.test","event":"bounce","sg_event_id":"e1"}]\r\n'
    headers = sg_headers(private, body)
    library = EventWebhook(public)
    signature = headers["x-twilio-email-event-webhook-signature"]
    assert library.verify_signature(body.decode(), signature, str(NOW))
    assert SendGrid([public]).verify(headers, body, NOW).event_type == "events"
    tampered = body.replace(b"bounce", b"bounc3")
    assert not library.verify_signature(tampered.decode(), signature, str(NOW))
    assert refused(SendGrid([public]), headers, tampered) == "no_matching_signature"


def test_sendgrid_refuses_other_keys_and_stale_timestamps(
    sendgrid_key: tuple[ec.EllipticCurvePrivateKey, str],
) -> None:
    private, public = sendgrid_key
    other = ec.generate_private_key(ec.SECP256R1())
    body = b"[]"
    assert refused(SendGrid([public]), sg_headers(other, body), body) == "no_matching_signature"
    assert refused(SendGrid([public]), sg_headers(private, body, NOW - 301), body) == (
        "timestamp_too_old"
    )
    other_der = other.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    rotated = SendGrid([base64.b64encode(other_der).decode(), public])
    assert rotated.verify(sg_headers(private, body), body, NOW).message_id.startswith("sha256:")
