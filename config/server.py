"""The API server: gunicorn's settings and worker, in one place for every way it is run.

    gunicorn -c python:config.server 'web:create_app()'

Each gunicorn process serves its requests on gevent greenlets, not on a fixed pool of
threads: a client that waits (`GET /api/v1/jobs/<id>?wait=N`, `Prefer: wait`, an event
stream) holds a greenlet and a socket, so a thousand waiting clients cost one process some
memory and take nothing from the others' requests. psycopg (3.1.14 and later) and redis-py
cooperate with gevent's patched sockets; the one CPU-heavy call, password hashing, runs on a
real thread (models/core/concurrency.py). docs/operations.md says why this and not a
separate stream server.

Errors gunicorn answers itself, before the app sees the request (a request line past 4 KiB:
414, header fields too large: 431, a malformed request: 400), leave in the API's one error
shape, as JSON, rather than as gunicorn's HTML page.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker

from config import load_settings

_settings = load_settings()

# Loopback unless told otherwise: the container's command adds --bind 0.0.0.0:8000.
bind = [f"127.0.0.1:{_settings.port}"]
workers = _settings.api_workers
worker_class = "config.server.ApiWorker"
worker_connections = _settings.api_worker_connections
# Pollers reuse their connections; gunicorn's default closes them after 2 s.
keepalive = 30
# A waiting request answers within its wait (30 s at most) and an event stream writes at least
# every STREAM_HEARTBEAT_S: gevent workers heartbeat on their own, so this is about stuck
# processes, not slow requests.
timeout = 60
graceful_timeout = 10
# No access log of gunicorn's: the app logs one line per request, with its request id and
# control characters escaped (web/core/requestlog.py).
accesslog = None

_CODES = {
    400: "bad_request",
    403: "permission_denied",
    413: "payload_too_large",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
}


def error_response(status: int, reason: str, message: str) -> bytes:
    """The bytes of an error answered before the app: the one error shape, connection closed."""
    body = json.dumps(
        {
            "code": _CODES.get(status, "bad_request"),
            "message": message or reason,
            "details": {},
            "request_id": uuid.uuid4().hex,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    util.write_nonblock(sock, error_response(status_int, reason, mesg))


class ApiWorker(GeventWorker):
    """gunicorn's gevent worker, whose own error answers are JSON in the API's error shape."""

    def init_process(self) -> None:
        # gunicorn's workers write their errors through util.write_error (pinned in
        # pyproject.toml: a release that renames it fails tests/e2e/test_server.py).
        util.write_error = _write_error
        super().init_process()
