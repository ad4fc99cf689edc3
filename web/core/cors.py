"""CORS for the browser front-ends listed in CORS_ORIGINS, and for no one else.

Credentials are allowed (the auth cookies), so the origins are an exact list, never a
wildcard; with CORS_ORIGINS empty no CORS header is ever sent.
"""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS

from config import Settings

ALLOWED_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-None-Match",
    "X-CSRF-Token",
    "X-Organization-ID",
    "X-Request-ID",
]
EXPOSED_HEADERS = [
    "X-Request-ID",
    "ETag",
    "Retry-After",
    "Location",
    "RateLimit",
    "RateLimit-Policy",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
]
PREFLIGHT_CACHE_S = 600


def init_app(app: Flask, settings: Settings) -> None:
    if not settings.cors_origins:
        return
    CORS(
        app,
        resources={r"/api/*": {}},
        origins=list(settings.cors_origins),
        supports_credentials=True,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        max_age=PREFLIGHT_CACHE_S,
    )
