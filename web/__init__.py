"""The HTTP API: `create_app()` builds the Flask app (flask-smorest, OpenAPI 3).

flask --app web run            # development server
gunicorn -c python:config.server 'web:create_app()'    # `make run`, docker-compose
"""

from __future__ import annotations

import importlib
import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Settings, load_settings
from config.logging import configure_logging
from config.settings import DEV_JWT_SECRET
from web.core import (
    api_docs,
    auth,
    cors,
    dashboard,
    errors,
    health,
    job_batches,
    job_streams,
    jobs,
    limits,
    metrics,
    ops,
    requestlog,
    waits,
)
from web.core.context import EXTENSION, close_db
from web.core.fields import EmailAddress
from web.core.webhooks import admin_blp as webhook_events_blp
from web.core.webhooks import blp as webhook_receive_blp
from workers.core.setup import Platform, connect

# The product domains: each is a module (or package) web/<domain> with a list `blueprints`,
# and may have an `init_app(app)`. A new domain adds its line here and nothing else.
DOMAINS = (
    "web.accounts",
    "web.orgs",
    "web.influencers",
    "web.billing",
    "web.webhooks",
    "web.fans",
    "web.revenue",
    "web.leads",
    "web.notifications",
    "web.live",
    "web.mail",
    "web.assistant",
    "web.engagement",
)

log = logging.getLogger("backline.web")


def create_app(settings: Settings | None = None, *, platform: Platform | None = None) -> Flask:
    """Build the API. Tests pass their own settings (and platform, to share a connection)."""
    settings = settings or (platform.settings if platform else load_settings())
    configure_logging(settings)
    if settings.jwt_secret == DEV_JWT_SECRET and settings.env == "development":
        log.warning(
            "tokens are signed with the public development secret; set JWT_SECRET "
            "(and BACKLINE_ENV=production, which refuses to start without one)"
        )
    app = Flask(__name__)
    if settings.trusted_proxy_count > 0:
        # Only then is X-Forwarded-For believed: request.remote_addr becomes the client the
        # nearest trusted proxy saw, for per-IP limits and the login audit alike.
        n = settings.trusted_proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        API_TITLE="Backline API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",  # /api/docs shows it (web/core/api_docs.py)
    )
    app.json = errors.JsonProvider(app)
    app.extensions[EXTENSION] = platform or connect(settings, pool_size=settings.api_db_pool_size)
    app.teardown_appcontext(close_db)
    errors.init_app(app)
    requestlog.init_app(app)
    metrics.init_app(app, settings)
    api = errors.BacklineApi(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    api.spec.components.security_scheme(
        "cookieAuth",
        {
            "type": "apiKey",
            "in": "cookie",
            "name": "backline_access",
            "description": "Set by login with use_cookies; unsafe methods also need the "
            "X-CSRF-Token header (the backline_csrf cookie's value).",
        },
    )
    api.register_field(EmailAddress, "string", "email")
    cors.init_app(app, settings)
    waits.init_app(app, settings)
    for blueprint in (
        jobs.blp,
        job_batches.blp,
        job_streams.blp,
        health.blp,
        ops.blp,
        webhook_receive_blp,  # web.webhooks, a domain, is another module
        webhook_events_blp,
    ):
        api.register_blueprint(blueprint)
    for name in DOMAINS:
        domain = importlib.import_module(name)
        for blueprint in domain.blueprints:
            api.register_blueprint(blueprint)
        if hasattr(domain, "init_app"):
            domain.init_app(app)
    auth.check_sign_in(app)
    limits.init_app(app, settings)  # after the blueprints: it applies their views' limits
    # After the limiter's check, so 429 comes first; the limiter has authenticated a request
    # carrying a token already (per-user counts need a live session), and this reuses that.
    app.before_request(auth.authenticate_first)
    dashboard.init_app(app)
    api_docs.init_app(app)
    return app
