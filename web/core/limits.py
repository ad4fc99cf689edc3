"""Inbound rate limits (Flask-Limiter), counted in Redis so every API process shares them.

A view states its limits with decorators that name a setting (config/settings.py holds the
figures, so operators can change them without a release):

    @blp.route("/password-reset")
    class PasswordReset(MethodView):
        @limits.per_ip("rate_limit_login")
        @limits.per_email("rate_limit_password_reset")
        @blp.arguments(PasswordResetRequest)
        @blp.response(202, Accepted)
        def post(self, body): ...

`init_app` applies them when the app is built, so every app (and every test) has its own
limiter and key prefix. On top, every call carrying an access token counts against
RATE_LIMIT_PER_USER, across all endpoints, whether the token came in the Authorization header
or in the browser's access cookie: against its user only once the token is found to be of a
live session (web/core/auth.py authenticates the request here, once, and the view reuses the
answer), and otherwise against the client's IP. So a logged-out or forged token cannot keep
its user at 429, and holding a dead token buys no more than holding a live one. Answers carry
the IETF draft headers RateLimit-Limit / -Remaining / -Reset (seconds) / -Policy; a 429
carries Retry-After and the one error shape.

Caps on the mails sent to one address (`allows_mail_to`) are checked by the views that mail,
not by decorators: past a cap the view still answers its usual 202 and sends nothing, so
whoever spends an address's cap learns nothing and keeps no one from being answered.

If Redis is unreachable the limiter falls back to counting in process memory (the same limits,
per process) and retries Redis with backoff; any other limiter failure lets the request
through. Failing closed would turn a Redis outage into a full API outage, and the defence
that matters most against password guessing (models/accounts/logins.py) lives in PostgreSQL.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit
from limits import parse

from config import Settings
from config.settings import RATE_LIMIT_SETTINGS
from models.core.addresses import normalise_email
from models.core.base import digest
from models.core.errors import BacklineError
from web.core.auth import live_session_user
from web.core.cookies import access_token_from_request
from web.core.errors import error_response

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("backline.web")
_RULES = "_backline_rate_limits"
EXTENSION = "backline_limits"


@dataclass(frozen=True)
class Rule:
    """One limit on a view: the setting holding its figure, and who it counts."""

    setting: str
    per: str  # "ip", "email" or "user"
    field: str = "email"


def _mark(rule: Rule) -> Callable[[F], F]:
    if rule.setting not in RATE_LIMIT_SETTINGS:
        raise ValueError(f"{rule.setting!r} is not a rate limit setting: {RATE_LIMIT_SETTINGS}")

    def mark(view: F) -> F:
        setattr(view, _RULES, (*getattr(view, _RULES, ()), rule))
        return view

    return mark


def per_ip(setting: str) -> Callable[[F], F]:
    """Limit a view method per client IP to the figure in `setting` (e.g. "rate_limit_login")."""
    return _mark(Rule(setting, "ip"))


def per_email(setting: str, field: str = "email") -> Callable[[F], F]:
    """Limit a view method per e-mail address: the JSON body's `field`, normalised.

    Case and surrounding whitespace do not make a new address. A body without the field counts
    against the caller's IP instead (it will fail validation anyway).
    """
    return _mark(Rule(setting, "email", field))


def per_user(setting: str) -> Callable[[F], F]:
    """Limit a view method per caller: the live session's user, any other token's IP.

    On top of RATE_LIMIT_PER_USER, for the views that cost more than a request (a search that
    spends credits, a password change).
    """
    return _mark(Rule(setting, "user"))


def by_ip() -> str:
    return f"ip:{request.remote_addr or 'unknown'}"


def _by_email(field: str) -> Callable[[], str]:
    def key() -> str:
        body = request.get_json(silent=True)
        value = body.get(field) if isinstance(body, dict) else None
        if not isinstance(value, str) or not value.strip():
            return by_ip()
        value = value[:320]
        try:
            address = normalise_email(value)
        except BacklineError:  # no canonical form: count it as typed (validation refuses it)
            address = value.strip().lower()
        # Hashed: the counters in Redis need no readable addresses.
        return "email:" + digest(address)

    return key


def _never_raising(key: Callable[[], str]) -> Callable[[], str]:
    """A key function that cannot fail the limiter.

    Flask-Limiter takes any exception during a check for a storage failure and counts in
    process memory from then on: a key function that raised on odd input would let anyone
    switch the shared counters off.
    """

    def safe() -> str:
        try:
            return key()
        except Exception:
            log.exception("rate limit key failed; counting the request by IP")
            return by_ip()

    return safe


def storage_uri(redis_url: str) -> str:
    """The `limits` library's name for a Redis URL (unix sockets are redis+unix://)."""
    if redis_url.startswith("unix://"):
        return "redis+" + redis_url
    return redis_url


class RateLimits:
    """One app's limiter, its headers and its 429 answer."""

    def __init__(self, app: Flask, settings: Settings) -> None:
        self.settings = settings
        self.limiter = Limiter(
            self._by_caller,
            application_limits=[settings.rate_limit_per_user],
            application_limits_exempt_when=lambda: self._caller() is None,
            storage_uri=storage_uri(settings.effective_rate_limit_storage_url),
            storage_options={"socket_connect_timeout": 1, "socket_timeout": 1},
            # Exact: "10/hour" means any 60 minutes, with no burst at a window's edge.
            strategy="moving-window",
            key_prefix=settings.rate_limit_key_prefix,
            headers_enabled=False,  # ours below: IETF names and a Reset in seconds
            swallow_errors=True,
            in_memory_fallback_enabled=True,
            enabled=settings.rate_limits_enabled,
        )
        self._per: dict[Callable[[], str], str] = {}
        self.limiter.init_app(app)
        app.extensions[EXTENSION] = self
        app.after_request(self._headers)
        app.register_error_handler(RateLimitExceeded, self._too_many)

    def _caller(self) -> str | None:
        """Whom the per-user limit counts the request against: "user:<id>" for a live
        session's token, "ip:<address>" for any other token, None without one (the view
        answers 401 without a query, or is public and limited per IP where that matters)."""
        if "limits_caller" not in g:
            g.limits_caller = None
            if _access_token():
                try:
                    user_id = live_session_user()
                except Exception:  # noqa: BLE001 - the database failed: the view will say so
                    log.warning("per-user limit not counted: authentication failed", exc_info=True)
                else:
                    g.limits_caller = f"user:{user_id}" if user_id else by_ip()
        return g.limits_caller  # type: ignore[no-any-return]

    def allows_mail_to(self, setting: str, address: str) -> bool:
        """Count one mail to `address` against the cap in `setting`; False once it is spent."""
        return self.allows(setting, "mail:" + digest(normalise_email(address)))

    def allows(self, setting: str, key: str) -> bool:
        """Count one event for `key` against the limit in `setting`; False once it is spent."""
        if not self.settings.rate_limits_enabled:
            return True
        try:
            return bool(
                self.limiter.limiter.hit(
                    parse(getattr(self.settings, setting)),
                    self.settings.rate_limit_key_prefix,
                    f"{setting}:{key}",
                )
            )
        except Exception:  # noqa: BLE001 - as for every limit: a storage failure lets it through
            log.warning("%s not counted: the limiter's storage failed", setting, exc_info=True)
            return True

    def _by_caller(self) -> str:
        return self._caller() or by_ip()

    def apply(self, app: Flask) -> None:
        """Wrap every view whose methods carry rules; run once, after blueprints are in."""
        for endpoint, view in list(app.view_functions.items()):
            view_class = getattr(view, "view_class", None)
            handlers: list[tuple[str | None, Any]] = [(None, view)]
            if view_class is not None:
                handlers = [(m, getattr(view_class, m.lower(), None)) for m in view_class.methods]
            wrapped = view
            for method, handler in handlers:
                for rule in getattr(handler, _RULES, ()):
                    wrapped = self._limit(rule, method)(wrapped)
            app.view_functions[endpoint] = wrapped

    def _limit(self, rule: Rule, method: str | None) -> Callable[[F], F]:
        keys = {"ip": by_ip, "user": self._by_caller}
        key = _never_raising(keys.get(rule.per) or _by_email(rule.field))
        self._per[key] = rule.per
        return self.limiter.limit(  # type: ignore[return-value]
            getattr(self.settings, rule.setting),
            key_func=key,
            methods=[method] if method else None,
            per_method=True,
        )

    def _headers(self, response: Response) -> Response:
        current = self.limiter.current_limit
        if current is None:
            return response
        try:
            remaining, reset_in = current.remaining, _seconds_to_reset(current)
        except Exception:  # noqa: BLE001 - headers are a courtesy; never fail the answer
            log.warning("rate limit headers left out: the limiter's storage failed")
            return response
        response.headers["RateLimit-Limit"] = str(current.limit.amount)
        response.headers["RateLimit-Remaining"] = str(remaining)
        response.headers["RateLimit-Reset"] = str(reset_in)
        response.headers["RateLimit-Policy"] = (
            f"{current.limit.amount};w={current.limit.get_expiry()}"
        )
        return response

    def _too_many(self, error: RateLimitExceeded) -> Response:
        try:
            current = self.limiter.current_limit
            retry_after = max(1, _seconds_to_reset(current)) if current else 1
        except Exception:  # noqa: BLE001 - the storage failed after saying no: still say no
            retry_after = int(error.limit.limit.get_expiry())
        per = self._per.get(error.limit.key_func) or self._by_caller().partition(":")[0]
        return error_response(
            429,
            "rate_limited",
            f"too many requests; try again in {retry_after} seconds",
            {"limit": str(error.limit.limit), "per": per, "retry_after_s": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


def allows(setting: str, key: str) -> bool:
    """Whether the current app allows one more event for `key` (an artist's slug, a webhook
    source) under the limit in `setting`; views that count something other than the request's
    caller use it and answer 429 themselves."""
    if setting not in RATE_LIMIT_SETTINGS:
        raise ValueError(f"{setting!r} is not a rate limit setting: {RATE_LIMIT_SETTINGS}")
    limits: RateLimits = current_app.extensions[EXTENSION]
    return limits.allows(setting, key)


def allows_mail_to(setting: str, address: str) -> bool:
    """Whether the current app may send one more mail to `address` under the cap in `setting`.

    Callers answer the same whatever this says: the cap is silent by design.
    """
    if setting not in RATE_LIMIT_SETTINGS:
        raise ValueError(f"{setting!r} is not a rate limit setting: {RATE_LIMIT_SETTINGS}")
    limits: RateLimits = current_app.extensions[EXTENSION]
    return limits.allows_mail_to(setting, address)


def _access_token() -> str | None:
    """The request's access token: the Authorization header's bearer token, else the cookie."""
    header = request.headers.get("Authorization")
    if header is None:
        token, _ = access_token_from_request()
        return token
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _seconds_to_reset(current: RequestLimit) -> int:
    return max(0, math.ceil(current.window.reset_time - time.time()))


def init_app(app: Flask, settings: Settings) -> RateLimits:
    """Set up the app's limiter and apply the views' rules (after blueprints are registered)."""
    limits = RateLimits(app, settings)
    limits.apply(app)
    return limits
