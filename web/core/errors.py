"""One error contract for every response: {code, message, details, request_id}.

HTTP errors (404, 405, 413, 415, webargs' 422), the domain's own exceptions and unexpected
failures all leave through here, and every response carries X-Request-ID. The request body
is read and its JSON parsed here too, before anything else meets it: bounded however it is
framed, no deeper than MAX_JSON_DEPTH, and strict JSON.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Api
from marshmallow import Schema, fields
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)

from models.core.errors import (
    AuthenticationFailed,
    BacklineError,
    Conflict,
    InvalidInput,
    LimitReached,
    NotFound,
    PermissionDenied,
    TooLarge,
)
from web.core import uploads

log = logging.getLogger("backline.web")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_STATUS_OF = {
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    AuthenticationFailed: 401,
    PermissionDenied: 403,
    LimitReached: 429,
    TooLarge: 413,
}
_CODE_OF = {
    400: "bad_request",
    401: "authentication_failed",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
}


# Deeper than any request the API defines (a job's params included) needs, shallow enough
# that nothing downstream (marshmallow, jsonb, the response's encoder) recurses far.
MAX_JSON_DEPTH = 32


class JsonProvider(DefaultJSONProvider):
    """Flask's JSON, strict: what it refuses is bad JSON, a 400 (Flask's get_json).

    A document nested past MAX_JSON_DEPTH (or too deep for the parser's own recursion), and
    NaN, Infinity or a number too large for a float, which are not JSON (RFC 8259) and which
    jsonb could not store.
    """

    sort_keys = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_constant", _not_a_number)
        kwargs.setdefault("parse_float", _finite_float)
        try:
            value = super().loads(s, **kwargs)
            shallow_enough = _depth_within(value, MAX_JSON_DEPTH)
        except RecursionError:  # deeper than the parser itself goes
            shallow_enough = False
        if not shallow_enough:
            raise ValueError(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
        return value


def _not_a_number(constant: str) -> float:
    raise ValueError(f"{constant} is not a JSON number")


def _finite_float(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise ValueError(f"{literal} is too large a number")
    return number


def _depth_within(value: Any, limit: int) -> bool:
    """Whether `value` nests at most `limit` arrays and objects deep (walked without recursion)."""
    pending = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        container, depth = pending.pop()
        if depth > limit:
            return False
        children = container.values() if isinstance(container, dict) else container
        pending.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return True


class ErrorSchema(Schema):
    code = fields.String(required=True, metadata={"description": "Stable, machine-readable."})
    message = fields.String(required=True, metadata={"description": "For people."})
    details = fields.Dict(metadata={"description": "Field errors or other specifics."})
    request_id = fields.String(metadata={"description": "Quote it when reporting a problem."})


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response:
    body = {
        "code": code,
        "message": message,
        "details": details or {},
        "request_id": getattr(g, "request_id", None),
    }
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if status == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="backline"')
    return response


def _merge_locations(messages: dict[str, Any]) -> dict[str, Any]:
    """webargs keys errors by location (json, query, headers); clients want the fields."""
    merged: dict[str, Any] = {}
    for location_errors in messages.values():
        if isinstance(location_errors, dict):
            merged.update(location_errors)
        else:
            merged.setdefault("_body", location_errors)
    return merged


class BacklineApi(Api):
    """flask-smorest's Api with Backline's error shape."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
        status = error.code or 500
        data = getattr(error, "data", {}) or {}
        messages = data.get("messages")
        if status == 422 and messages:
            return error_response(
                422,
                "validation_failed",
                "the request is not valid",
                {"fields": _merge_locations(messages)},
            )
        if status == 400 and messages:
            return error_response(
                400,
                "bad_request",
                "the request body is not valid JSON",
                {"fields": _merge_locations(messages)},
            )
        if status >= 500:
            log.error("unhandled error", exc_info=getattr(error, "original_exception", None))
            return error_response(500, "internal_error", "something went wrong on our side")
        message = data.get("message") or error.description or error.name
        headers = dict(error.get_headers())
        if error.response is not None:
            headers.update(error.response.headers)
        keep = {k: v for k, v in headers.items() if k in ("Allow", "Retry-After")}
        return error_response(status, _CODE_OF.get(status, "error"), str(message), headers=keep)


def _domain_error(error: BacklineError) -> Response:
    status = next((s for cls, s in _STATUS_OF.items() if isinstance(error, cls)), 400)
    headers = {}
    if isinstance(error, LimitReached):
        headers["Retry-After"] = str(error.retry_after_s)
    return error_response(status, error.code, error.message, error.details, headers=headers)


def _unexpected(error: Exception) -> Response:
    log.exception("unhandled exception", extra={"request_id": getattr(g, "request_id", None)})
    return error_response(500, "internal_error", "something went wrong on our side")


def _assign_request_id() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex


# A refused chunked body is read to its end if it ends within this many times the cap.
DRAIN_FACTOR = 4


def _require_json_body() -> None:
    """Read and parse the body before anything else meets it, however it is framed.

    Parsed here through JsonProvider, bad JSON is a 400 saying why, before webargs (which
    parses the same bytes again on its own) or a rate-limit key function meets it.
    """
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if not chunked and not request.content_length:
        return
    upload_cap = uploads.upload_cap()
    if upload_cap is not None:  # a file, streamed by the view itself under its own cap
        request.max_content_length = upload_cap
        return
    if request.method in ("POST", "PUT", "PATCH") and not request.is_json:
        raise UnsupportedMediaType("send the body as application/json")
    body = request.get_data(cache=True)
    limit = request.max_content_length
    # Werkzeug refuses a Content-Length past the limit (413), but reads a body sent without
    # one (chunked) only up to the limit and stops there without a word: one that filled it
    # did not fit.
    if limit is not None and request.content_length is None and len(body) >= limit:
        _discard_rest(DRAIN_FACTOR * limit)
        raise RequestEntityTooLarge()
    if body and request.is_json:
        try:
            current_app.json.loads(body)
        except ValueError as error:  # JSONDecodeError and UnicodeDecodeError among them
            raise BadRequest(f"the request body is not valid JSON: {error}") from None


def _discard_rest(max_bytes: int) -> None:
    """Read and drop what is left of a refused body, up to `max_bytes`: a client still
    sending when the server closes gets a reset, not the 413 that says why. Past the bound
    it gets the reset: reading on would cost more than the answer is worth."""
    stream = request.environ.get("wsgi.input")
    read = 0
    while stream is not None and read < max_bytes:
        chunk = stream.read(64 * 1024)
        if not chunk:
            return
        read += len(chunk)


def _stamp_request_id(response: Response) -> Response:
    response.headers["X-Request-ID"] = getattr(g, "request_id", "") or ""
    return response


def init_app(app: Flask) -> None:
    app.before_request(_assign_request_id)
    app.before_request(_require_json_body)
    app.after_request(_stamp_request_id)
    app.register_error_handler(BacklineError, _domain_error)
    app.register_error_handler(Exception, _unexpected)
