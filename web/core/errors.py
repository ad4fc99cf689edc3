"""One error contract for every response: {code, message, details, request_id}.

HTTP errors (404, 405, 413, 415, webargs' 422), the domain's own exceptions and unexpected
failures all leave through here, and every response carries X-Request-ID.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from flask import Flask, Response, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Api
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException, UnsupportedMediaType

from models.core.errors import (
    AuthenticationFailed,
    BacklineError,
    Conflict,
    InvalidInput,
    LimitReached,
    NotFound,
    PermissionDenied,
)

log = logging.getLogger("backline.web")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_STATUS_OF = {
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    AuthenticationFailed: 401,
    PermissionDenied: 403,
    LimitReached: 429,
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


class JsonProvider(DefaultJSONProvider):
    """Flask's JSON, but a body nested too deeply for the parser is bad JSON (a 400), not a
    RecursionError that would surface as a 500 with a traceback in the log."""

    sort_keys = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON nests too deeply") from None


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


def _require_json_body() -> None:
    has_body = (request.content_length or 0) > 0
    if request.method in ("POST", "PUT", "PATCH") and has_body and not request.is_json:
        raise UnsupportedMediaType("send the body as application/json")
    if has_body and request.is_json:
        # Parsed once here, through JsonProvider: a body too deep for the parser is a 400
        # before webargs (which parses on its own) or a rate-limit key function meets it.
        request.get_json(silent=False)


def _stamp_request_id(response: Response) -> Response:
    response.headers["X-Request-ID"] = getattr(g, "request_id", "") or ""
    return response


def init_app(app: Flask) -> None:
    app.before_request(_assign_request_id)
    app.before_request(_require_json_body)
    app.after_request(_stamp_request_id)
    app.register_error_handler(BacklineError, _domain_error)
    app.register_error_handler(Exception, _unexpected)
