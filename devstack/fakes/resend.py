"""A stand-in for Resend's e-mail API (`POST /emails`, `GET /emails/{id}`).

It answers as Resend does: a bearer key (401 missing_api_key, 403 invalid_api_key), `{"id":
uuid}` for a mail taken, errors as `{"statusCode", "name", "message"}`: 422 validation_error
for a missing or malformed `from`/`to`/`subject`, 429 rate_limit_exceeded with `retry-after`
and `ratelimit-*` headers above `requests_per_s`, and the `Idempotency-Key` of the real one:
the same key and body again answer the first id and send nothing, the same key with another
body is 409 invalid_idempotent_request, a key longer than 256 characters 400.

What a test or a developer can inspect and set, in code or over HTTP:

- `app.emails` / `GET /_fake/emails`: the mails taken, oldest first (`DELETE` empties it);
- `app.script` / `POST /_fake/script {"steps": ["429", "500"]}`: the next requests fail so,
  in order ("429" answers with `retry-after: app.retry_after_s`);
- `app.refused` / `POST /_fake/refuse {"address": ...}`: mails to it are refused with 422;
- `app.requests_per_s` / `POST /_fake/rate {"requests_per_s": 2}` (null: no limit).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from devstack.fakes import Fake

KEY = "re_fake_resend_key"
MAX_RECIPIENTS = 50
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_NAMED = re.compile(r"^[^<>]*<([^<>]+)>$")


def valid_address(value: Any) -> bool:
    """`email@example.com` or `Name <email@example.com>`, as Resend takes them."""
    if not isinstance(value, str):
        return False
    named = _NAMED.match(value.strip())
    return bool(_ADDRESS.match(named.group(1) if named else value.strip()))


class FakeResend:
    def __init__(self) -> None:
        self.emails: list[dict[str, Any]] = []
        self.script: list[str] = []
        self.refused: set[str] = set()
        self.requests_per_s: float | None = None
        self.retry_after_s = 1
        self.requests = 0
        self._recent: deque[float] = deque()
        self._idempotent: dict[str, tuple[str, str]] = {}  # key: (body digest, email id)
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/_fake/"):
            return self._control(request)
        with self._lock:
            self.requests += 1
            refused = self._gate(request)
            if refused is not None:
                return refused
            if request.method == "POST" and request.path == "/emails":
                return self._send(request)
            if request.method == "GET" and request.path.startswith("/emails/"):
                return self._get(request.path.removeprefix("/emails/"))
        if request.path == "/emails" or request.path.startswith("/emails/"):
            return _error(
                405, "method_not_allowed", "Method is not allowed for the requested path."
            )
        return _error(404, "not_found", "The requested endpoint does not exist.")

    # Under the lock from here on.

    def _gate(self, request: Request) -> Response | None:
        """Key, rate and scripted failures, in the order Resend meets them."""
        authorization = request.headers.get("Authorization", "")
        if not authorization:
            return _error(401, "missing_api_key", "Missing API key in the authorization header.")
        if authorization != f"Bearer {KEY}":
            return _error(403, "invalid_api_key", "API key is invalid.")
        now = time.monotonic()
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if self.requests_per_s is not None and len(self._recent) >= self.requests_per_s:
            return self._too_many(int(self.requests_per_s))
        self._recent.append(now)
        step = self.script.pop(0) if self.script else "ok"
        if step == "429":
            return self._too_many(int(self.requests_per_s or 2))
        if step == "500":
            return _error(500, "internal_server_error", "An unexpected error occurred.")
        return None

    def _too_many(self, limit: int) -> Response:
        response = _error(
            429,
            "rate_limit_exceeded",
            "Too many requests. You can only make 2 requests per second. See rate limit "
            "response headers for more information. Or contact support to increase rate limit.",
        )
        response.headers["retry-after"] = str(self.retry_after_s)
        response.headers["ratelimit-limit"] = str(limit)
        response.headers["ratelimit-remaining"] = "0"
        response.headers["ratelimit-reset"] = str(self.retry_after_s)
        return response

    def _send(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            return _error(400, "validation_error", "Invalid JSON body.")
        if not isinstance(body, dict):
            return _error(422, "validation_error", "The body must be a JSON object.")
        invalid = _invalid(body)
        if invalid is not None:
            return invalid
        key = request.headers.get("Idempotency-Key")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if key is not None:
            if not 1 <= len(key) <= 256:
                return _error(
                    400, "invalid_idempotency_key", "The key must be between 1-256 chars."
                )
            if key in self._idempotent:
                seen, email_id = self._idempotent[key]
                if seen != digest:
                    return _error(
                        409,
                        "invalid_idempotent_request",
                        "Same idempotency key used with a different request payload.",
                    )
                return _answer({"id": email_id})
        recipients = [body["to"]] if isinstance(body["to"], str) else list(body["to"])
        for address in recipients:
            if _bare(address) in self.refused:
                return _error(
                    422, "validation_error", f"The recipient {_bare(address)} is suppressed."
                )
        email_id = str(uuid.uuid4())
        self.emails.append(
            {
                "id": email_id,
                "from": body["from"],
                "to": recipients,
                "subject": body["subject"],
                "text": body.get("text"),
                "html": body.get("html"),
                "headers": body.get("headers") or {},
                "tags": body.get("tags") or [],
                "idempotency_key": key,
                "created_at": datetime.now(UTC).isoformat(),
            }
        )
        if key is not None:
            self._idempotent[key] = (digest, email_id)
        return _answer({"id": email_id})

    def _get(self, email_id: str) -> Response:
        for email in self.emails:
            if email["id"] == email_id:
                return _answer(
                    {"object": "email", "last_event": "delivered", "bcc": None, "cc": None}
                    | {k: v for k, v in email.items() if k != "idempotency_key"}
                )
        return _error(404, "not_found", "Email not found")

    def _control(self, request: Request) -> Response:
        with self._lock:
            if request.path == "/_fake/emails" and request.method == "GET":
                return _answer({"data": list(self.emails)})
            if request.path == "/_fake/emails" and request.method == "DELETE":
                self.emails.clear()
                self._idempotent.clear()
                return _answer({"deleted": True})
            if request.method != "POST":
                return _error(405, "method_not_allowed", "Method is not allowed.")
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                body = {}
            if request.path == "/_fake/script":
                self.script.extend(str(step) for step in body.get("steps", []))
            elif request.path == "/_fake/refuse":
                self.refused.add(str(body.get("address", "")).lower())
            elif request.path == "/_fake/rate":
                rate = body.get("requests_per_s")
                self.requests_per_s = float(rate) if rate is not None else None
            else:
                return _error(404, "not_found", "No such control.")
            return _answer({"ok": True})


def _invalid(body: dict[str, Any]) -> Response | None:
    for name in ("from", "to", "subject"):
        if body.get(name) in (None, "", []):
            return _error(422, "missing_required_field", f"Missing `{name}` field.")
    if not valid_address(body["from"]):
        return _error(
            422,
            "validation_error",
            "Invalid `from` field. The email address needs to follow the `email@example.com` "
            "or `Name <email@example.com>` format.",
        )
    to = body["to"]
    recipients = [to] if isinstance(to, str) else to
    if not isinstance(recipients, list) or not all(valid_address(r) for r in recipients):
        return _error(
            422,
            "validation_error",
            "Invalid `to` field. The email address needs to follow the `email@example.com` "
            "or `Name <email@example.com>` format.",
        )
    if len(recipients) > MAX_RECIPIENTS:
        return _error(422, "validation_error", "Too many recipients: 50 at most.")
    if not isinstance(body["subject"], str):
        return _error(422, "validation_error", "Invalid `subject` field.")
    return None


def _bare(address: str) -> str:
    named = _NAMED.match(address.strip())
    return (named.group(1) if named else address).strip().lower()


def _answer(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


def _error(status: int, name: str, message: str) -> Response:
    return _answer({"statusCode": status, "name": name, "message": message}, status)


FAKE = Fake(
    name="Resend",
    base_url_variable="RESEND_BASE_URL",
    key_variable="RESEND_API_KEY",
    create_app=FakeResend,
    env={"RESEND_API_KEY": KEY},
)
