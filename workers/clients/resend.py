"""Resend's e-mail API (`POST /emails`, a bearer key), as a campaign transport.

Each send carries the mail's Message-ID as its `Idempotency-Key`: Resend answers a repeated
request (same key, same body, within 24 hours) with the first one's id and sends nothing, so
a retry after a timeout cannot send twice. Its answers map onto workers/clients/mailer.py:

- 200 `{"id": ...}`: accepted, the id returned;
- 429 (rate_limit_exceeded, daily_quota_exceeded): MailDeferred, throttled, `retry_after`
  from `retry-after` (or `ratelimit-reset`);
- 5xx, timeouts, lost connections, 409 concurrent_idempotent_requests: MailDeferred;
- 401, 403, 404, 405 (key, unverified domain, wrong URL): MailAccountRefused;
- other 4xx (400 and 422 validation errors, 409 invalid_idempotent_request): MailRejected.

Errors come as `{"statusCode": 422, "name": "validation_error", "message": "..."}`.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from config import Settings
from workers.clients.mailer import MailAccountRefused, MailDeferred, MailRejected, OutgoingMail

log = logging.getLogger(__name__)

ACCOUNT_STATUSES = (401, 403, 404, 405)


def request_body(mail: OutgoingMail) -> dict[str, Any]:
    """The JSON body of `POST /emails` for `mail`."""
    body: dict[str, Any] = {
        "from": mail.sender,
        "to": [mail.to],
        "subject": mail.subject,
        "text": mail.text,
    }
    if mail.html is not None:
        body["html"] = mail.html
    if mail.headers:
        body["headers"] = dict(mail.headers)
    if mail.tags:
        body["tags"] = [{"name": name, "value": value} for name, value in mail.tags.items()]
    return body


class ResendTransport:
    """The campaign sender over Resend's API; one HTTP connection pool, reused."""

    name = "resend"

    def __init__(self, settings: Settings, *, http: httpx.Client | None = None) -> None:
        self._http = http or httpx.Client(
            base_url=settings.resend_base_url,
            headers={
                "authorization": f"Bearer {settings.resend_api_key}",
                "user-agent": "backline",
            },
            timeout=settings.resend_timeout_s,
        )

    def send(self, mail: OutgoingMail) -> str:
        try:
            response = self._http.post(
                "/emails",
                json=request_body(mail),
                headers={"idempotency-key": mail.bare_message_id},
            )
        except httpx.TimeoutException as exc:
            raise MailDeferred(f"Resend did not answer in time: {exc}") from exc
        except httpx.TransportError as exc:
            raise MailDeferred(f"cannot reach Resend: {exc}") from exc
        if response.status_code == 200:
            return _provider_id(response)
        raise _error(response)

    def close(self) -> None:
        self._http.close()


def _provider_id(response: httpx.Response) -> str:
    try:
        answer = response.json()
        provider_id = answer["id"]
    except (ValueError, KeyError, TypeError) as exc:
        # Sent or not, a retry with the same key gets the id without sending twice.
        raise MailDeferred(f"Resend's answer has no id: {response.text[:200]!r}") from exc
    return str(provider_id)


def _error(response: httpx.Response) -> MailRejected | MailDeferred:
    status = response.status_code
    name, message = _described(response)
    reason = f"{name}: {message}" if name else message
    if status == 429:
        return MailDeferred(reason, code=status, retry_after=_retry_after(response), throttled=True)
    if status >= 500 or (status == 409 and name == "concurrent_idempotent_requests"):
        return MailDeferred(reason, code=status, retry_after=_retry_after(response))
    if status in ACCOUNT_STATUSES:
        return MailAccountRefused(reason, code=status)
    if 400 <= status < 500:
        return MailRejected(reason, code=status)
    return MailDeferred(f"unexpected answer: {reason}", code=status)


def _described(response: httpx.Response) -> tuple[str, str]:
    """The error's name and message, from its JSON body if it has one."""
    try:
        answer = response.json()
    except ValueError:
        return "", response.text[:200] or response.reason_phrase
    if not isinstance(answer, dict):
        return "", str(answer)[:200]
    return str(answer.get("name") or ""), str(answer.get("message") or response.reason_phrase)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait: `retry-after`, else `ratelimit-reset` (both in seconds)."""
    for header in ("retry-after", "ratelimit-reset"):
        value = response.headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value)
        except ValueError:
            continue
        if seconds >= 0:
            return min(seconds, 24 * 3600.0)
    return None
