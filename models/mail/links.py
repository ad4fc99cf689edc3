"""Signed links in a mail: one-click unsubscribe, the open pixel and click redirects.

A link carries its payload (the send's id; for a click, the target URL too) and an HMAC of
it under a key derived from the deployment's secret and the link's purpose, so it needs no
session, cannot be forged for another recipient, and a click link cannot be turned into a
redirect to an address the mail did not contain (no open redirect).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PURPOSES = ("unsubscribe", "open", "click")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, purpose: str, payload: bytes) -> bytes:
    key = hashlib.sha256(f"backline-mail-{purpose}:{secret}".encode()).digest()
    return hmac.new(key, payload, hashlib.sha256).digest()[:16]


def sign(secret: str, purpose: str, payload: str) -> str:
    """A URL-safe token for `payload` (for `purpose` only)."""
    data = payload.encode()
    return f"{_b64(data)}.{_b64(_mac(secret, purpose, data))}"


def verify(secret: str, purpose: str, token: str) -> str | None:
    """The payload of a token signed for `purpose`, or None (forged, mangled, other purpose)."""
    head, _, tail = token.partition(".")
    try:
        data, mac = _unb64(head), _unb64(tail)
    except (ValueError, UnicodeEncodeError):
        return None
    if not hmac.compare_digest(mac, _mac(secret, purpose, data)):
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None


def unsubscribe_token(secret: str, send_id: int) -> str:
    return sign(secret, "unsubscribe", str(send_id))


def open_token(secret: str, send_id: int) -> str:
    return sign(secret, "open", str(send_id))


def click_token(secret: str, send_id: int, url: str) -> str:
    return sign(secret, "click", f"{send_id} {url}")


def send_of(secret: str, purpose: str, token: str) -> int | None:
    """The send id of an unsubscribe or open token (None if it does not verify)."""
    payload = verify(secret, purpose, token)
    if payload is None or not payload.isdigit() or len(payload) > 18:
        return None
    return int(payload)


def click_of(secret: str, token: str) -> tuple[int, str] | None:
    """(send id, target URL) of a click token, or None."""
    payload = verify(secret, "click", token)
    if payload is None:
        return None
    head, _, url = payload.partition(" ")
    if not head.isdigit() or len(head) > 18 or not url.startswith(("https://", "http://")):
        return None
    return int(head), url
