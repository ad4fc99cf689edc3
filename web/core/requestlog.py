"""One log line per API request, carrying the request id that the job's logs carry too.

A client's X-Request-ID (or the one the API made up) is stored on every job the request
submits; the worker logs it with each attempt. So `request_id=…` finds the request, its jobs
and their attempts, in whichever process they ran.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

log = logging.getLogger("backline.web.requests")
# Probes and scrapes arrive every few seconds and say nothing about users' requests.
QUIET_ENDPOINTS = {"health.Healthz", "health.Readyz", "metrics", "admin_page.static"}


def _start() -> None:
    g.request_started = time.perf_counter()


def _log(response: Response) -> Response:
    if request.endpoint in QUIET_ENDPOINTS:
        return response
    started = g.get("request_started")
    user = g.get("user")
    log.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "request_id": g.get("request_id"),
            "route": request.url_rule.rule if request.url_rule else None,
            "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
            "user_id": str(user.id) if user is not None else None,
        },
    )
    return response


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_log)
