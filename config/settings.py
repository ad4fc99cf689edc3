"""The one place where environment variables are read.

Every setting has a type and a development default; a bad value fails at start-up with an
error naming the variable. In production the settings refuse defaults that are only safe on a
developer's machine (the JWT secret above all).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation

from limits import parse_many

DEV_JWT_SECRET = "dev-only-secret-change-me-dev-only-secret"  # noqa: S105 - refused in production
MIN_JWT_SECRET_BYTES = 32
ENVIRONMENTS = ("development", "test", "production")
SAMESITE_VALUES = ("Lax", "Strict", "None")


class ConfigError(ValueError):
    """An environment variable holds a value Backline cannot use."""


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    return value if value not in (None, "") else None


def _int(environ: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = _env(environ, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(environ: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = _env(environ, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _env(environ, name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _str(environ: Mapping[str, str], name: str, default: str) -> str:
    return _env(environ, name) or default


def _origins(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list of origins (scheme://host[:port]), each checked."""
    raw = _env(environ, name) or ""
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if not _ORIGIN.match(origin):
            raise ConfigError(
                f"{name} must list origins like https://app.example.com "
                f"(no paths, no wildcards), got {origin!r}"
            )
    return origins


def _networks(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list of CIDRs or addresses, each checked."""
    raw = _env(environ, name) or ""
    networks = tuple(n.strip() for n in raw.split(",") if n.strip())
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(
                f"{name} must list networks like 10.0.0.0/8 or 127.0.0.1, got {network!r}"
            ) from None
    return networks


def _list(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list of secrets (at most two: the current one and the next)."""
    raw = _env(environ, name) or ""
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    if len(values) > 2:
        raise ConfigError(f"{name} takes at most two secrets (current and next), got {len(values)}")
    return values


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 whatever driver the URL names (or leaves out)."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Settings:
    """Everything Backline reads from its environment, with types and defaults."""

    env: str = "development"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/backline"
    db_pool_size: int = 10
    redis_url: str = "redis://127.0.0.1:6379/0"
    # The broker defaults to Redis; an amqp:// URL switches to RabbitMQ.
    broker_url: str = ""
    broker_namespace: str = "backline"
    jwt_secret: str = DEV_JWT_SECRET
    jwt_previous_secret: str = ""
    jwt_issuer: str = "backline"
    jwt_audience: str = "backline-api"
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    verify_token_ttl_s: int = 48 * 3600
    reset_token_ttl_s: int = 3600
    email_change_token_ttl_s: int = 24 * 3600
    # Browser sessions: tokens in HttpOnly cookies (opt-in at login), CSRF-checked.
    cookie_secure: bool = True
    cookie_samesite: str = "Lax"
    # Origins allowed to call the API from a browser, with credentials; empty: no CORS.
    cors_origins: tuple[str, ...] = ()
    invitation_ttl_s: int = 7 * 24 * 3600
    # resend-verification and request-password-reset answer no sooner than this, whether or not
    # the address has an account (the work for one that has would otherwise show in the time).
    account_mail_answer_ms: int = 250
    # How long the login audit keeps attempts (the throttle looks back 30 days at most).
    login_audit_retention_days: int = 90
    public_base_url: str = "http://127.0.0.1:8000"
    max_request_bytes: int = 1024 * 1024
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_starttls: bool = False
    smtp_timeout_s: float = 10.0
    mail_from: str = "Backline <no-reply@backline.local>"
    # Who carries campaign and sequence mail (workers/clients/mailer.py): "smtp" (the server
    # above) or "resend" (an HTTP API in Resend's shape; `make run` serves a fake of it unless
    # RESEND_API_KEY is set).
    mail_provider: str = "smtp"
    resend_base_url: str = "https://api.resend.com"
    resend_api_key: str = field(default="", repr=False)
    resend_timeout_s: float = 10.0
    # Sending pace, shared by every worker process (a token bucket in Redis), and per recipient
    # domain; a 429 or 4xx deferral from the provider halves it for MAIL_SLOWDOWN_S.
    mail_send_per_s: float = 10.0
    mail_send_per_domain_per_s: float = 5.0
    mail_slowdown_s: float = 60.0
    worker_processes: int = 2
    # Jobs mostly wait on other services; more threads also make bigger group commits.
    worker_threads: int = 16
    # How long an idle Redis consumer waits between polls at most. Enqueues wake consumers at
    # once (workers/core/wakeup.py); this is the fallback when a wake-up is lost.
    worker_idle_poll_ms: int = 250
    heartbeat_interval_s: float = 5.0
    # On SIGTERM, how long running jobs may go on before those that check in (progress,
    # sleep, a cancellation check) are queued again from their last checkpoint. Under
    # Kubernetes' default 30 s before a SIGKILL; `make run` gives 5 s.
    worker_shutdown_grace_s: float = 25.0
    heartbeat_stale_s: float = 30.0
    queued_stale_s: float = 30.0
    sweep_interval_s: float = 5.0
    max_crashes: int = 3
    log_level: str = "INFO"
    log_format: str = "text"
    port: int = 8000
    # The API server (config/server.py): gunicorn processes, each serving requests on gevent
    # greenlets, so a client that waits (long-poll, event stream) holds no thread.
    api_workers: int = 2
    api_worker_connections: int = 2000
    # Database connections each API process keeps (DB_POOL_SIZE more when busier). A process
    # serves many requests at once: a pool smaller than their number makes them queue for a
    # connection, and the overflow's connections, opened and closed request after request,
    # cost more than the queries (p99 of GET /auth/me, 32 connections, one process: 81 ms with
    # 32, 640 ms with 10).
    api_db_pool_size: int = 32
    # Waits (GET ?wait, POST with Prefer: wait, event streams) one user may hold open at once,
    # over all API processes; past it a wait answers at once, with Retry-After.
    max_waits_per_user: int = 20
    # An event stream sends a comment this often when it has nothing else to say.
    stream_heartbeat_s: float = 15.0
    # /metrics: when set, scrapes must send `Authorization: Bearer <token>`; when unset the
    # endpoint is open in development and test and answers 404 in production.
    metrics_token: str = field(default="", repr=False)
    # prometheus-client's multi-process mode (gunicorn workers, Dramatiq worker processes):
    # every process writes its figures here and a scrape sums them. The library reads the
    # variable itself; the settings read it so the code knows which mode it is in.
    prometheus_multiproc_dir: str = ""
    # The worker pool's metrics server (forked by Dramatiq's main process); 0 turns it off.
    worker_metrics_port: int = 9191
    # Where it listens. It has no token: loopback unless a private network needs it (compose).
    worker_metrics_host: str = "127.0.0.1"
    # Inbound rate limits (web/core/limits.py), counted in Redis so every API process shares them.
    # Values are `limits` strings: "10/hour", "20 per minute", "5/second;100/hour".
    rate_limits_enabled: bool = True
    rate_limit_storage_url: str = ""  # empty: REDIS_URL
    rate_limit_key_prefix: str = "backline"
    rate_limit_register: str = "10/hour"  # per IP
    rate_limit_login: str = "20/minute"  # per IP
    rate_limit_verify_email: str = "10/hour"  # per IP
    rate_limit_refresh: str = "60/minute"  # per IP
    # Caps on the mails sent to one address: past them the answer stays 202, nothing is sent.
    rate_limit_resend_verification: str = "10/hour"  # per e-mail address
    rate_limit_password_reset: str = "5/hour"  # noqa: S105 - a rate, per e-mail address
    rate_limit_email_change_confirmation: str = "3/day"  # per new address
    rate_limit_address_taken_notice: str = "1/day"  # per address that has an account
    rate_limit_account_mail: str = "20/hour"  # per IP, on each of reset and resend (429)
    rate_limit_per_user: str = "600/minute"  # per live session's user (other tokens: per IP)
    # How many reverse proxies in front of the API append to X-Forwarded-For. 0: the header is
    # ignored (anyone could forge it), so per-IP limits and the audit see the socket's peer.
    trusted_proxy_count: int = 0
    # Uploaded files (workers/core/storage.py): a directory, or file:///an/absolute/path.
    storage_url: str = "var/storage"
    # Networks that outbound requests to user-chosen URLs may reach although they are not
    # public (workers/clients/outbound.py), as CIDRs: "10.20.0.0/16,127.0.0.1/32". Empty:
    # only public addresses.
    outbound_allowed_networks: tuple[str, ...] = ()
    # accounts
    # A refresh token presented again this soon after its rotation (two tabs refreshing with
    # one cookie) gets the successor it already got; later, the reuse revokes the session.
    refresh_reuse_grace_s: int = 5
    rate_limit_change_password: str = "10/hour"  # noqa: S105 - a rate, per user (and per IP)
    # The one-time link mailed to an address's owner when a login of theirs from a new
    # network is throttled: it makes that network count as one they logged in from.
    rate_limit_login_unlock_mail: str = "3/hour"  # per address
    login_unlock_token_ttl_s: int = 3600
    rate_limit_account_export: str = "5/day"  # per user
    # Sign in with Google (OpenID Connect); off while the client id is empty. `make run`
    # serves a local fake provider and sets all three.
    google_client_id: str = ""
    google_client_secret: str = ""
    google_issuer_url: str = "https://accounts.google.com"
    provider_sign_in_ttl_s: int = 600  # from the redirect to the provider to its answer
    # Sign in with GitHub (an OAuth app); off while the client id is empty.
    github_client_id: str = ""
    github_client_secret: str = ""
    github_base_url: str = "https://github.com"  # or a GitHub Enterprise host
    # influencers
    # The creator-data API (workers/clients/scrapecreators.py); `make run` serves a fake of it
    # unless SCRAPECREATORS_API_KEY is set.
    scrapecreators_base_url: str = "https://api.scrapecreators.com"
    scrapecreators_api_key: str = field(default="", repr=False)
    scrapecreators_timeout_s: float = 30.0
    # Requests per second to the provider, shared by every worker process (counted in Redis).
    scrapecreators_requests_per_s: int = 10
    # Tries of one request on 429, 5xx and timeouts before the job's own retry takes over.
    scrapecreators_attempts: int = 4
    # Profiles younger than this are taken from the provider's cache (0 credits).
    scrapecreators_cache_max_age: str = "7d"
    # The most results one influencer search may ask for.
    influencer_search_max_target: int = 1000
    rate_limit_influencer_search: str = "60/hour"  # searches started, per user
    # The avatar proxy fetches from these hosts (and their subdomains) only: platform CDNs.
    influencer_avatar_hosts: tuple[str, ...] = (
        "tiktokcdn.com",
        "tiktokcdn-us.com",
        "cdninstagram.com",
        "fbcdn.net",
        "ggpht.com",
        "ytimg.com",
        "googleusercontent.com",
    )
    influencer_avatar_max_bytes: int = 5 * 1024 * 1024
    influencer_avatar_timeout_s: float = 10.0
    # webhooks (web/core/webhooks.py, docs/webhooks.md). A source exists once its secrets are
    # set; two secrets at once (comma-separated) let a sender rotate without downtime.
    webhook_tolerance_s: int = 300
    webhook_max_body_bytes: int = 256 * 1024
    qstash_current_signing_key: str = ""
    qstash_next_signing_key: str = ""
    qstash_callback_url: str = ""  # when set, the token's `sub` must be exactly this URL
    stripe_webhook_secrets: tuple[str, ...] = ()
    resend_webhook_secrets: tuple[str, ...] = ()
    sendgrid_webhook_public_keys: tuple[str, ...] = ()
    # billing (models/billing.py): the trial new organisations get, and Stripe
    trial_days: int = 7
    stripe_api_key: str = ""
    stripe_api_base_url: str = "https://api.stripe.com"
    stripe_price_creator: str = "price_creator"
    stripe_price_professional: str = "price_professional"
    billing_return_url: str = "http://localhost:3000/billing"
    # fans
    fans_max_import_bytes: int = 50 * 1024 * 1024  # one uploaded CSV of fans
    fan_signup_ttl_s: int = 3 * 86400  # how long a public sign-up's confirmation link works
    fan_signup_min_fill_s: float = 3.0  # a sign-up form sent back sooner is a bot's
    rate_limit_fan_signup: str = "10/hour"  # public sign-ups per IP
    rate_limit_fan_signup_artist: str = "500/hour"  # public sign-ups per artist page
    rate_limit_fan_signup_mail: str = "3/day"  # confirmation mails per address (silent cap)
    release_max_artwork_bytes: int = 50 * 1024 * 1024
    release_max_audio_bytes: int = 1024 * 1024 * 1024
    release_file_url_ttl_s: int = 300  # a signed download URL's life
    # STORAGE_URL=s3://bucket[/prefix]: an S3-compatible store (workers/clients/s3.py).
    storage_s3_endpoint_url: str = ""  # empty: AWS itself
    storage_s3_region: str = "us-east-1"
    storage_s3_access_key_id: str = ""  # empty: boto3's own chain (instance role, ~/.aws)
    storage_s3_secret_access_key: str = field(default="", repr=False)
    # revenue
    # Largest distributor report one upload may be (bytes, compressed as sent).
    revenue_max_upload_bytes: int = 500 * 1024 * 1024
    # An import reports its progress (and sees a cancel) every this many rows.
    revenue_import_batch_rows: int = 20_000
    # Least amount one withdrawal may ask for, in the withdrawal's currency.
    revenue_min_withdrawal: Decimal = Decimal("10")
    # Uploads per organisation (each starts an import job).
    rate_limit_revenue_upload: str = "30/hour"
    # leads
    # OpenAI (workers/clients/openai.py): the chat completions API, or anything speaking it.
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str = field(default="", repr=False)
    openai_model: str = "gpt-4o-mini"
    openai_fallback_model: str = "gpt-4.1-mini"  # asked when the first model fails
    openai_timeout_s: float = 60.0
    openai_max_retries: int = 2  # per model, on 408/409/429/5xx and lost connections
    # Brave Search (workers/clients/brave.py).
    brave_base_url: str = "https://api.search.brave.com/res/v1"
    brave_api_key: str = field(default="", repr=False)
    brave_timeout_s: float = 15.0
    brave_cache_ttl_s: int = 24 * 3600  # the same query is not paid for twice in this time
    brave_max_wait_s: float = 60.0  # a 429 or an empty window longer than this fails the call
    # Pages found by a search, fetched for contact details.
    leads_fetch_max_bytes: int = 1024 * 1024
    leads_fetch_timeout_s: float = 10.0
    leads_max_queries: int = 10  # queries taken from one strategy
    leads_pages_per_query: int = 2  # Brave pages (20 results each) per query
    leads_import_max_bytes: int = 10 * 1024 * 1024  # a CSV file of leads
    # Checking addresses: DNS servers for MX look-ups ("127.0.0.1:5353"; empty: the
    # system's), and how old a verdict may be before it is checked again.
    leads_dns_nameservers: tuple[str, ...] = ()
    leads_dns_timeout_s: float = 5.0
    leads_verdict_max_age_days: int = 30
    # Mail campaigns: how many sender jobs share a campaign's ledger (docs/mail.md).
    mail_sender_jobs: int = 4
    rate_limit_mail_write: str = "300/hour"  # per user: campaigns, sequences, enrolments
    rate_limit_mail_test: str = "20/hour"  # per user: test sends (each a mail)
    rate_limit_mail_links: str = "600/minute"  # per IP: unsubscribe, open pixel, clicks
    # NeverBounce, asked after the DNS check when its key is set (workers/clients/neverbounce.py).
    neverbounce_base_url: str = "https://api.neverbounce.com/v4"
    neverbounce_api_key: str = field(default="", repr=False)
    neverbounce_timeout_s: float = 30.0
    # The daily notifications' bodies phrased by the model (OPENAI_*), the plain text kept
    # when it fails or the organisation's token budget is spent (workers/notifications.py).
    notifications_phrasing: bool = False
    rate_limit_leads_goals: str = "100/day"  # per user
    rate_limit_leads_results: str = "1000/day"  # per user
    rate_limit_leads_validate: str = "5000/day"  # per user
    rate_limit_leads_read: str = "1000/hour"  # per user
    rate_limit_leads_write: str = "500/hour"  # per user
    rate_limit_leads_analytics: str = "100/hour"  # per user
    rate_limit_leads_reports: str = "50/day"  # per user
    # fans: the paid fan subscription (models/fans/checkouts.py)
    stripe_price_fan: str = "price_fan"  # the Stripe price a fan's subscription is sold at
    fan_checkout_return_url: str = "http://localhost:3000/artists"  # + /<slug>?checkout=<id>
    rate_limit_fan_checkout: str = "10/hour"  # public fan checkouts per IP
    rate_limit_fan_checkout_read: str = "120/minute"  # "did it clear?" asked per IP
    # revenue statements
    # Statements asked for per organisation (each starts a revenue.statement job).
    rate_limit_revenue_statement: str = "60/hour"
    # live (models/live/)
    live_queue_cap: int = 20  # effects a session's overlay queue holds before refusing (429)
    live_session_idle_s: int = 4 * 3600  # an active session without a trigger this long ends
    live_max_effect_bytes: int = 20 * 1024 * 1024  # one uploaded effect's image or sound
    live_max_overlay_streams: int = 100  # overlay streams of one session open at once
    live_max_effect_uploads: int = 200  # uploaded effects one organisation keeps at once
    live_max_streams_per_link: int = 5  # overlay streams one link (token) holds open at once
    rate_limit_live_trigger: str = "120/minute"  # effect triggers, per user
    rate_limit_live_overlay_link: str = "30/hour"  # overlay links made, per user
    # assistant (models/assistant, workers/assistant.py): the model, what a reply may cost, and
    # how much of the artist's data and history it is given.
    assistant_model: str = ""  # empty: OPENAI_MODEL
    assistant_max_reply_tokens: int = 600
    assistant_context_tokens: int = 1500  # the artist's data given with each question
    assistant_history_turns: int = 6  # earlier messages the model sees
    assistant_max_tool_rounds: int = 3  # tool calls answered before the model must reply
    rate_limit_assistant_messages: str = "200/day"  # per user
    rate_limit_assistant_read: str = "1000/hour"  # per user
    # engagement metrics (models/engagement/): a cached dashboard lives this long at most;
    # a write makes it unreachable at once (its key holds the organisation's data version).
    engagement_dashboard_cache_ttl_s: int = 3600
    rate_limit_engagement_write: str = "600/minute"  # metric writes (single or batch), per user
    rate_limit_engagement_read: str = "600/minute"  # dashboard reads, per user

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def effective_rate_limit_storage_url(self) -> str:
        return self.rate_limit_storage_url or self.redis_url

    def replace(self, **changes: object) -> Settings:
        """A copy with some settings changed (tests and tools use this)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        settings = Settings(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.env not in ENVIRONMENTS:
            raise ConfigError(
                f"BACKLINE_ENV must be one of {', '.join(ENVIRONMENTS)}, got {self.env!r}"
            )
        if self.is_production:
            _check_production_secret("JWT_SECRET", self.jwt_secret)
            # The previous key verifies tokens as fully as the current one: the same bar.
            if self.jwt_previous_secret:
                _check_production_secret("JWT_PREVIOUS_SECRET", self.jwt_previous_secret)
            if not self.cookie_secure:
                raise ConfigError("COOKIE_SECURE=false is for development over plain http only")
        if self.cookie_samesite not in SAMESITE_VALUES:
            raise ConfigError(
                f"COOKIE_SAMESITE must be one of {', '.join(SAMESITE_VALUES)}, "
                f"got {self.cookie_samesite!r}"
            )
        if self.cookie_samesite == "None" and not self.cookie_secure:
            raise ConfigError("COOKIE_SAMESITE=None needs COOKIE_SECURE=true (browsers insist)")
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"LOG_FORMAT must be text or json, got {self.log_format!r}")
        if not self.effective_broker_url.startswith(
            ("redis://", "rediss://", "unix://", "amqp://", "amqps://")
        ):
            raise ConfigError("BROKER_URL / REDIS_URL must be a redis://, unix:// or amqp:// URL")
        if self.heartbeat_stale_s <= self.heartbeat_interval_s:
            raise ConfigError("HEARTBEAT_STALE_S must be longer than HEARTBEAT_INTERVAL_S")
        if not self.effective_rate_limit_storage_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ConfigError("RATE_LIMIT_STORAGE_URL must be a redis:// or unix:// URL")
        for name in RATE_LIMIT_SETTINGS:
            _check_rate_limit(name.upper(), getattr(self, name))
        if self.mail_provider not in MAIL_PROVIDERS:
            raise ConfigError(
                f"MAIL_PROVIDER must be one of {', '.join(MAIL_PROVIDERS)}, "
                f"got {self.mail_provider!r}"
            )
        if self.scrapecreators_cache_max_age not in CACHE_MAX_AGES:
            raise ConfigError(
                f"SCRAPECREATORS_CACHE_MAX_AGE must be one of {', '.join(CACHE_MAX_AGES)}, "
                f"got {self.scrapecreators_cache_max_age!r}"
            )


# Who can carry campaign mail (workers/clients/mailer.py transport_for).
MAIL_PROVIDERS = ("smtp", "resend")

# The ages the creator-data API's profile cache takes (`cache_max_age`).
CACHE_MAX_AGES = ("1d", "3d", "7d", "14d", "30d")


# The settings that hold a rate limit ("10/hour"); web/core/limits.py decorators name one of them.
# Every rate_limit_* setting is one, but for where the counts are kept.
RATE_LIMIT_SETTINGS = tuple(
    setting.name
    for setting in fields(Settings)
    if setting.name.startswith("rate_limit_")
    and setting.name not in ("rate_limit_storage_url", "rate_limit_key_prefix")
)


def _check_production_secret(variable: str, value: str) -> None:
    if value == DEV_JWT_SECRET:
        raise ConfigError(
            f"{variable} must be set to a secret of your own in production "
            "(the development default is public)"
        )
    if len(value.encode()) < MIN_JWT_SECRET_BYTES:
        raise ConfigError(f"{variable} must be at least {MIN_JWT_SECRET_BYTES} bytes in production")


def _check_rate_limit(variable: str, value: str) -> None:
    try:
        parsed = parse_many(value)
    except ValueError:
        parsed = []
    if not parsed or any(item.amount < 1 for item in parsed):
        raise ConfigError(f'{variable} must be a rate limit like "10/hour", got {value!r}')


def _hosts(environ: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list of host names, lower-cased (unset: the default)."""
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    return tuple(h.strip().lower().strip(".") for h in raw.split(",") if h.strip())


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from the environment (or from `environ`), validated."""
    e = os.environ if environ is None else environ
    d = Settings()
    settings = Settings(
        env=_str(e, "BACKLINE_ENV", d.env).lower(),
        database_url=normalise_database_url(_str(e, "DATABASE_URL", d.database_url)),
        db_pool_size=_int(e, "DB_POOL_SIZE", d.db_pool_size, minimum=1),
        redis_url=_str(e, "REDIS_URL", d.redis_url),
        broker_url=_str(e, "BROKER_URL", d.broker_url),
        broker_namespace=_str(e, "BROKER_NAMESPACE", d.broker_namespace),
        jwt_secret=_str(e, "JWT_SECRET", d.jwt_secret),
        jwt_previous_secret=_str(e, "JWT_PREVIOUS_SECRET", d.jwt_previous_secret),
        jwt_issuer=_str(e, "JWT_ISSUER", d.jwt_issuer),
        jwt_audience=_str(e, "JWT_AUDIENCE", d.jwt_audience),
        access_token_ttl_s=_int(e, "ACCESS_TOKEN_TTL_S", d.access_token_ttl_s, minimum=30),
        refresh_token_ttl_s=_int(e, "REFRESH_TOKEN_TTL_S", d.refresh_token_ttl_s, minimum=60),
        verify_token_ttl_s=_int(e, "VERIFY_TOKEN_TTL_S", d.verify_token_ttl_s, minimum=60),
        reset_token_ttl_s=_int(e, "RESET_TOKEN_TTL_S", d.reset_token_ttl_s, minimum=60),
        email_change_token_ttl_s=_int(
            e, "EMAIL_CHANGE_TOKEN_TTL_S", d.email_change_token_ttl_s, minimum=60
        ),
        cookie_secure=_bool(e, "COOKIE_SECURE", d.cookie_secure),
        cookie_samesite=_str(e, "COOKIE_SAMESITE", d.cookie_samesite).capitalize(),
        cors_origins=_origins(e, "CORS_ORIGINS"),
        invitation_ttl_s=_int(e, "INVITATION_TTL_S", d.invitation_ttl_s, minimum=60),
        account_mail_answer_ms=_int(e, "ACCOUNT_MAIL_ANSWER_MS", d.account_mail_answer_ms),
        login_audit_retention_days=_int(
            e, "LOGIN_AUDIT_RETENTION_DAYS", d.login_audit_retention_days, minimum=31
        ),
        public_base_url=_str(e, "PUBLIC_BASE_URL", d.public_base_url).rstrip("/"),
        max_request_bytes=_int(e, "MAX_REQUEST_BYTES", d.max_request_bytes, minimum=1024),
        smtp_host=_str(e, "SMTP_HOST", d.smtp_host),
        smtp_port=_int(e, "SMTP_PORT", d.smtp_port, minimum=1),
        smtp_username=_str(e, "SMTP_USERNAME", d.smtp_username),
        smtp_password=_str(e, "SMTP_PASSWORD", d.smtp_password),
        smtp_starttls=_bool(e, "SMTP_STARTTLS", d.smtp_starttls),
        smtp_timeout_s=_float(e, "SMTP_TIMEOUT_S", d.smtp_timeout_s, minimum=0.1),
        mail_from=_str(e, "MAIL_FROM", d.mail_from),
        mail_provider=_str(e, "MAIL_PROVIDER", d.mail_provider).strip().lower(),
        resend_base_url=_str(e, "RESEND_BASE_URL", d.resend_base_url).rstrip("/"),
        resend_api_key=_str(e, "RESEND_API_KEY", d.resend_api_key),
        resend_timeout_s=_float(e, "RESEND_TIMEOUT_S", d.resend_timeout_s, minimum=0.1),
        mail_send_per_s=_float(e, "MAIL_SEND_PER_S", d.mail_send_per_s, minimum=0.01),
        mail_send_per_domain_per_s=_float(
            e, "MAIL_SEND_PER_DOMAIN_PER_S", d.mail_send_per_domain_per_s, minimum=0.01
        ),
        mail_slowdown_s=_float(e, "MAIL_SLOWDOWN_S", d.mail_slowdown_s, minimum=0.0),
        worker_processes=_int(e, "WORKER_PROCESSES", d.worker_processes, minimum=1),
        worker_threads=_int(e, "WORKER_THREADS", d.worker_threads, minimum=1),
        worker_idle_poll_ms=_int(e, "WORKER_IDLE_POLL_MS", d.worker_idle_poll_ms, minimum=1),
        heartbeat_interval_s=_float(e, "HEARTBEAT_INTERVAL_S", d.heartbeat_interval_s, 0.1),
        worker_shutdown_grace_s=_float(
            e, "WORKER_SHUTDOWN_GRACE_S", d.worker_shutdown_grace_s, 0.0
        ),
        heartbeat_stale_s=_float(e, "HEARTBEAT_STALE_S", d.heartbeat_stale_s, 0.5),
        queued_stale_s=_float(e, "QUEUED_STALE_S", d.queued_stale_s, 0.5),
        sweep_interval_s=_float(e, "SWEEP_INTERVAL_S", d.sweep_interval_s, 0.1),
        max_crashes=_int(e, "MAX_CRASHES", d.max_crashes, minimum=1),
        log_level=_str(e, "LOG_LEVEL", d.log_level).upper(),
        log_format=_str(e, "LOG_FORMAT", d.log_format).lower(),
        port=_int(e, "PORT", d.port, minimum=1),
        api_workers=_int(e, "API_WORKERS", d.api_workers, minimum=1),
        api_worker_connections=_int(
            e, "API_WORKER_CONNECTIONS", d.api_worker_connections, minimum=10
        ),
        api_db_pool_size=_int(e, "API_DB_POOL_SIZE", d.api_db_pool_size, minimum=1),
        max_waits_per_user=_int(e, "MAX_WAITS_PER_USER", d.max_waits_per_user, minimum=1),
        stream_heartbeat_s=_float(e, "STREAM_HEARTBEAT_S", d.stream_heartbeat_s, minimum=0.1),
        metrics_token=_str(e, "METRICS_TOKEN", d.metrics_token),
        prometheus_multiproc_dir=_str(e, "PROMETHEUS_MULTIPROC_DIR", d.prometheus_multiproc_dir),
        worker_metrics_port=_int(e, "WORKER_METRICS_PORT", d.worker_metrics_port),
        worker_metrics_host=_str(e, "WORKER_METRICS_HOST", d.worker_metrics_host),
        rate_limits_enabled=_bool(e, "RATE_LIMITS_ENABLED", d.rate_limits_enabled),
        rate_limit_storage_url=_str(e, "RATE_LIMIT_STORAGE_URL", d.rate_limit_storage_url),
        rate_limit_key_prefix=_str(e, "RATE_LIMIT_KEY_PREFIX", d.rate_limit_key_prefix),
        rate_limit_register=_str(e, "RATE_LIMIT_REGISTER", d.rate_limit_register),
        rate_limit_login=_str(e, "RATE_LIMIT_LOGIN", d.rate_limit_login),
        rate_limit_verify_email=_str(e, "RATE_LIMIT_VERIFY_EMAIL", d.rate_limit_verify_email),
        rate_limit_refresh=_str(e, "RATE_LIMIT_REFRESH", d.rate_limit_refresh),
        rate_limit_resend_verification=_str(
            e, "RATE_LIMIT_RESEND_VERIFICATION", d.rate_limit_resend_verification
        ),
        rate_limit_password_reset=_str(e, "RATE_LIMIT_PASSWORD_RESET", d.rate_limit_password_reset),
        rate_limit_account_mail=_str(e, "RATE_LIMIT_ACCOUNT_MAIL", d.rate_limit_account_mail),
        rate_limit_email_change_confirmation=_str(
            e, "RATE_LIMIT_EMAIL_CHANGE_CONFIRMATION", d.rate_limit_email_change_confirmation
        ),
        rate_limit_address_taken_notice=_str(
            e, "RATE_LIMIT_ADDRESS_TAKEN_NOTICE", d.rate_limit_address_taken_notice
        ),
        rate_limit_per_user=_str(e, "RATE_LIMIT_PER_USER", d.rate_limit_per_user),
        trusted_proxy_count=_int(e, "TRUSTED_PROXY_COUNT", d.trusted_proxy_count),
        storage_url=_str(e, "STORAGE_URL", d.storage_url),
        outbound_allowed_networks=_networks(e, "OUTBOUND_ALLOWED_NETWORKS"),
        # accounts
        refresh_reuse_grace_s=_int(e, "REFRESH_REUSE_GRACE_S", d.refresh_reuse_grace_s),
        rate_limit_change_password=_str(
            e, "RATE_LIMIT_CHANGE_PASSWORD", d.rate_limit_change_password
        ),
        rate_limit_login_unlock_mail=_str(
            e, "RATE_LIMIT_LOGIN_UNLOCK_MAIL", d.rate_limit_login_unlock_mail
        ),
        login_unlock_token_ttl_s=_int(e, "LOGIN_UNLOCK_TOKEN_TTL_S", d.login_unlock_token_ttl_s),
        rate_limit_account_export=_str(e, "RATE_LIMIT_ACCOUNT_EXPORT", d.rate_limit_account_export),
        google_client_id=_str(e, "GOOGLE_CLIENT_ID", d.google_client_id),
        google_client_secret=_str(e, "GOOGLE_CLIENT_SECRET", d.google_client_secret),
        google_issuer_url=_str(e, "GOOGLE_ISSUER_URL", d.google_issuer_url).rstrip("/"),
        github_client_id=_str(e, "GITHUB_CLIENT_ID", d.github_client_id),
        github_client_secret=_str(e, "GITHUB_CLIENT_SECRET", d.github_client_secret),
        github_base_url=_str(e, "GITHUB_BASE_URL", d.github_base_url).rstrip("/"),
        provider_sign_in_ttl_s=_int(
            e, "PROVIDER_SIGN_IN_TTL_S", d.provider_sign_in_ttl_s, minimum=60
        ),
        # influencers
        scrapecreators_base_url=_str(e, "SCRAPECREATORS_BASE_URL", d.scrapecreators_base_url),
        scrapecreators_api_key=_str(e, "SCRAPECREATORS_API_KEY", d.scrapecreators_api_key),
        scrapecreators_timeout_s=_float(
            e, "SCRAPECREATORS_TIMEOUT_S", d.scrapecreators_timeout_s, minimum=0.1
        ),
        scrapecreators_requests_per_s=_int(
            e, "SCRAPECREATORS_REQUESTS_PER_S", d.scrapecreators_requests_per_s, minimum=1
        ),
        scrapecreators_attempts=_int(
            e, "SCRAPECREATORS_ATTEMPTS", d.scrapecreators_attempts, minimum=1
        ),
        scrapecreators_cache_max_age=_str(
            e, "SCRAPECREATORS_CACHE_MAX_AGE", d.scrapecreators_cache_max_age
        ),
        influencer_search_max_target=_int(
            e, "INFLUENCER_SEARCH_MAX_TARGET", d.influencer_search_max_target, minimum=1
        ),
        rate_limit_influencer_search=_str(
            e, "RATE_LIMIT_INFLUENCER_SEARCH", d.rate_limit_influencer_search
        ),
        influencer_avatar_hosts=_hosts(e, "INFLUENCER_AVATAR_HOSTS", d.influencer_avatar_hosts),
        influencer_avatar_max_bytes=_int(
            e, "INFLUENCER_AVATAR_MAX_BYTES", d.influencer_avatar_max_bytes, minimum=1024
        ),
        influencer_avatar_timeout_s=_float(
            e, "INFLUENCER_AVATAR_TIMEOUT_S", d.influencer_avatar_timeout_s, minimum=0.1
        ),
        # webhooks
        webhook_tolerance_s=_int(e, "WEBHOOK_TOLERANCE_S", d.webhook_tolerance_s, minimum=1),
        webhook_max_body_bytes=_int(
            e, "WEBHOOK_MAX_BODY_BYTES", d.webhook_max_body_bytes, minimum=1024
        ),
        qstash_current_signing_key=_str(
            e, "QSTASH_CURRENT_SIGNING_KEY", d.qstash_current_signing_key
        ),
        qstash_next_signing_key=_str(e, "QSTASH_NEXT_SIGNING_KEY", d.qstash_next_signing_key),
        qstash_callback_url=_str(e, "QSTASH_CALLBACK_URL", d.qstash_callback_url),
        stripe_webhook_secrets=_list(e, "STRIPE_WEBHOOK_SECRET"),
        resend_webhook_secrets=_list(e, "RESEND_WEBHOOK_SECRET"),
        sendgrid_webhook_public_keys=_list(e, "SENDGRID_WEBHOOK_PUBLIC_KEY"),
        # billing
        trial_days=_int(e, "TRIAL_DAYS", d.trial_days),
        stripe_api_key=_str(e, "STRIPE_API_KEY", d.stripe_api_key),
        stripe_api_base_url=_str(e, "STRIPE_API_BASE_URL", d.stripe_api_base_url),
        stripe_price_creator=_str(e, "STRIPE_PRICE_CREATOR", d.stripe_price_creator),
        stripe_price_professional=_str(e, "STRIPE_PRICE_PROFESSIONAL", d.stripe_price_professional),
        billing_return_url=_str(e, "BILLING_RETURN_URL", d.billing_return_url),
        # fans
        fans_max_import_bytes=_int(
            e, "FANS_MAX_IMPORT_BYTES", d.fans_max_import_bytes, minimum=1024
        ),
        fan_signup_ttl_s=_int(e, "FAN_SIGNUP_TTL_S", d.fan_signup_ttl_s, minimum=60),
        fan_signup_min_fill_s=_float(
            e, "FAN_SIGNUP_MIN_FILL_S", d.fan_signup_min_fill_s, minimum=0.0
        ),
        rate_limit_fan_signup=_str(e, "RATE_LIMIT_FAN_SIGNUP", d.rate_limit_fan_signup),
        rate_limit_fan_signup_artist=_str(
            e, "RATE_LIMIT_FAN_SIGNUP_ARTIST", d.rate_limit_fan_signup_artist
        ),
        rate_limit_fan_signup_mail=_str(
            e, "RATE_LIMIT_FAN_SIGNUP_MAIL", d.rate_limit_fan_signup_mail
        ),
        release_max_artwork_bytes=_int(
            e, "RELEASE_MAX_ARTWORK_BYTES", d.release_max_artwork_bytes, minimum=1024
        ),
        release_max_audio_bytes=_int(
            e, "RELEASE_MAX_AUDIO_BYTES", d.release_max_audio_bytes, minimum=1024
        ),
        release_file_url_ttl_s=_int(
            e, "RELEASE_FILE_URL_TTL_S", d.release_file_url_ttl_s, minimum=10
        ),
        storage_s3_endpoint_url=_str(e, "STORAGE_S3_ENDPOINT_URL", d.storage_s3_endpoint_url),
        storage_s3_region=_str(e, "STORAGE_S3_REGION", d.storage_s3_region),
        storage_s3_access_key_id=_str(e, "STORAGE_S3_ACCESS_KEY_ID", d.storage_s3_access_key_id),
        storage_s3_secret_access_key=_str(
            e, "STORAGE_S3_SECRET_ACCESS_KEY", d.storage_s3_secret_access_key
        ),
        # revenue
        revenue_max_upload_bytes=_int(
            e, "REVENUE_MAX_UPLOAD_BYTES", d.revenue_max_upload_bytes, minimum=1024
        ),
        revenue_import_batch_rows=_int(
            e, "REVENUE_IMPORT_BATCH_ROWS", d.revenue_import_batch_rows, minimum=1
        ),
        revenue_min_withdrawal=_decimal(e, "REVENUE_MIN_WITHDRAWAL", d.revenue_min_withdrawal),
        rate_limit_revenue_upload=_str(e, "RATE_LIMIT_REVENUE_UPLOAD", d.rate_limit_revenue_upload),
        # leads
        openai_base_url=_str(e, "OPENAI_BASE_URL", d.openai_base_url),
        openai_api_key=_str(e, "OPENAI_API_KEY", d.openai_api_key),
        openai_model=_str(e, "OPENAI_MODEL", d.openai_model),
        openai_fallback_model=_str(e, "OPENAI_FALLBACK_MODEL", d.openai_fallback_model),
        openai_timeout_s=_float(e, "OPENAI_TIMEOUT_S", d.openai_timeout_s, minimum=0.1),
        openai_max_retries=_int(e, "OPENAI_MAX_RETRIES", d.openai_max_retries),
        brave_base_url=_str(e, "BRAVE_BASE_URL", d.brave_base_url),
        brave_api_key=_str(e, "BRAVE_API_KEY", d.brave_api_key),
        brave_timeout_s=_float(e, "BRAVE_TIMEOUT_S", d.brave_timeout_s, minimum=0.1),
        brave_cache_ttl_s=_int(e, "BRAVE_CACHE_TTL_S", d.brave_cache_ttl_s),
        brave_max_wait_s=_float(e, "BRAVE_MAX_WAIT_S", d.brave_max_wait_s),
        leads_fetch_max_bytes=_int(
            e, "LEADS_FETCH_MAX_BYTES", d.leads_fetch_max_bytes, minimum=1024
        ),
        leads_fetch_timeout_s=_float(
            e, "LEADS_FETCH_TIMEOUT_S", d.leads_fetch_timeout_s, minimum=0.1
        ),
        leads_max_queries=_int(e, "LEADS_MAX_QUERIES", d.leads_max_queries, minimum=1),
        leads_pages_per_query=_int(e, "LEADS_PAGES_PER_QUERY", d.leads_pages_per_query, minimum=1),
        leads_import_max_bytes=_int(
            e, "LEADS_IMPORT_MAX_BYTES", d.leads_import_max_bytes, minimum=1024
        ),
        leads_dns_nameservers=tuple(
            v.strip() for v in _str(e, "LEADS_DNS_NAMESERVERS", "").split(",") if v.strip()
        ),
        leads_dns_timeout_s=_float(e, "LEADS_DNS_TIMEOUT_S", d.leads_dns_timeout_s, minimum=0.1),
        leads_verdict_max_age_days=_int(
            e, "LEADS_VERDICT_MAX_AGE_DAYS", d.leads_verdict_max_age_days, minimum=1
        ),
        mail_sender_jobs=_int(e, "MAIL_SENDER_JOBS", d.mail_sender_jobs, minimum=1),
        rate_limit_mail_write=_str(e, "RATE_LIMIT_MAIL_WRITE", d.rate_limit_mail_write),
        rate_limit_mail_test=_str(e, "RATE_LIMIT_MAIL_TEST", d.rate_limit_mail_test),
        rate_limit_mail_links=_str(e, "RATE_LIMIT_MAIL_LINKS", d.rate_limit_mail_links),
        neverbounce_base_url=_str(e, "NEVERBOUNCE_BASE_URL", d.neverbounce_base_url),
        neverbounce_api_key=_str(e, "NEVERBOUNCE_API_KEY", d.neverbounce_api_key),
        neverbounce_timeout_s=_float(
            e, "NEVERBOUNCE_TIMEOUT_S", d.neverbounce_timeout_s, minimum=0.1
        ),
        notifications_phrasing=_bool(e, "NOTIFICATIONS_PHRASING", d.notifications_phrasing),
        rate_limit_leads_goals=_str(e, "RATE_LIMIT_LEADS_GOALS", d.rate_limit_leads_goals),
        rate_limit_leads_results=_str(e, "RATE_LIMIT_LEADS_RESULTS", d.rate_limit_leads_results),
        rate_limit_leads_validate=_str(e, "RATE_LIMIT_LEADS_VALIDATE", d.rate_limit_leads_validate),
        rate_limit_leads_read=_str(e, "RATE_LIMIT_LEADS_READ", d.rate_limit_leads_read),
        rate_limit_leads_write=_str(e, "RATE_LIMIT_LEADS_WRITE", d.rate_limit_leads_write),
        rate_limit_leads_analytics=_str(
            e, "RATE_LIMIT_LEADS_ANALYTICS", d.rate_limit_leads_analytics
        ),
        rate_limit_leads_reports=_str(e, "RATE_LIMIT_LEADS_REPORTS", d.rate_limit_leads_reports),
        # fans: the paid fan subscription
        stripe_price_fan=_str(e, "STRIPE_PRICE_FAN", d.stripe_price_fan),
        fan_checkout_return_url=_str(e, "FAN_CHECKOUT_RETURN_URL", d.fan_checkout_return_url),
        rate_limit_fan_checkout=_str(e, "RATE_LIMIT_FAN_CHECKOUT", d.rate_limit_fan_checkout),
        rate_limit_fan_checkout_read=_str(
            e, "RATE_LIMIT_FAN_CHECKOUT_READ", d.rate_limit_fan_checkout_read
        ),
        assistant_model=_str(e, "ASSISTANT_MODEL", d.assistant_model),
        assistant_max_reply_tokens=_int(
            e, "ASSISTANT_MAX_REPLY_TOKENS", d.assistant_max_reply_tokens, minimum=16
        ),
        assistant_context_tokens=_int(
            e, "ASSISTANT_CONTEXT_TOKENS", d.assistant_context_tokens, minimum=0
        ),
        assistant_history_turns=_int(
            e, "ASSISTANT_HISTORY_TURNS", d.assistant_history_turns, minimum=0
        ),
        assistant_max_tool_rounds=_int(
            e, "ASSISTANT_MAX_TOOL_ROUNDS", d.assistant_max_tool_rounds, minimum=0
        ),
        rate_limit_assistant_messages=_str(
            e, "RATE_LIMIT_ASSISTANT_MESSAGES", d.rate_limit_assistant_messages
        ),
        rate_limit_assistant_read=_str(e, "RATE_LIMIT_ASSISTANT_READ", d.rate_limit_assistant_read),
        # revenue statements
        rate_limit_revenue_statement=_str(
            e, "RATE_LIMIT_REVENUE_STATEMENT", d.rate_limit_revenue_statement
        ),
        # live
        live_queue_cap=_int(e, "LIVE_QUEUE_CAP", d.live_queue_cap, minimum=1),
        live_session_idle_s=_int(e, "LIVE_SESSION_IDLE_S", d.live_session_idle_s, minimum=60),
        live_max_effect_bytes=_int(
            e, "LIVE_MAX_EFFECT_BYTES", d.live_max_effect_bytes, minimum=1024
        ),
        live_max_overlay_streams=_int(
            e, "LIVE_MAX_OVERLAY_STREAMS", d.live_max_overlay_streams, minimum=1
        ),
        # engagement metrics
        engagement_dashboard_cache_ttl_s=_int(
            e, "ENGAGEMENT_DASHBOARD_CACHE_TTL_S", d.engagement_dashboard_cache_ttl_s, minimum=1
        ),
        rate_limit_engagement_write=_str(
            e, "RATE_LIMIT_ENGAGEMENT_WRITE", d.rate_limit_engagement_write
        ),
        rate_limit_engagement_read=_str(
            e, "RATE_LIMIT_ENGAGEMENT_READ", d.rate_limit_engagement_read
        ),
        live_max_effect_uploads=_int(
            e, "LIVE_MAX_EFFECT_UPLOADS", d.live_max_effect_uploads, minimum=1
        ),
        live_max_streams_per_link=_int(
            e, "LIVE_MAX_STREAMS_PER_LINK", d.live_max_streams_per_link, minimum=1
        ),
        rate_limit_live_trigger=_str(e, "RATE_LIMIT_LIVE_TRIGGER", d.rate_limit_live_trigger),
        rate_limit_live_overlay_link=_str(
            e, "RATE_LIMIT_LIVE_OVERLAY_LINK", d.rate_limit_live_overlay_link
        ),
    )
    settings.validate()
    return settings


def _decimal(environ: Mapping[str, str], name: str, default: Decimal) -> Decimal:
    """An exact, non-negative amount (revenue settings)."""
    raw = _env(environ, name)
    if raw is None:
        return default
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise ConfigError(f"{name} must be a decimal amount, got {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{name} must be a decimal amount of at least 0, got {raw!r}")
    return value
