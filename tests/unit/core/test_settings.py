"""Settings: typed, defaulted, and strict where a mistake would be dangerous."""

from __future__ import annotations

import pytest

from config import ConfigError, load_settings
from config.settings import DEV_JWT_SECRET
from web.core.limits import storage_uri


def test_development_defaults_work_with_nothing_set() -> None:
    settings = load_settings({})
    assert settings.env == "development"
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.effective_broker_url == "redis://127.0.0.1:6379/0"


def test_production_refuses_the_default_or_a_short_jwt_secret() -> None:
    with pytest.raises(ConfigError, match="JWT_SECRET must be set"):
        load_settings({"BACKLINE_ENV": "production"})
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        load_settings({"BACKLINE_ENV": "production", "JWT_SECRET": "short"})
    ok = load_settings({"BACKLINE_ENV": "production", "JWT_SECRET": "s" * 32})
    assert ok.is_production


@pytest.mark.parametrize(
    ("previous", "refusal"),
    [
        (DEV_JWT_SECRET, "JWT_PREVIOUS_SECRET must be set to a secret of your own"),
        ("short", "JWT_PREVIOUS_SECRET must be at least 32 bytes"),
    ],
)
def test_production_refuses_the_default_or_a_short_previous_jwt_secret(
    previous: str, refusal: str
) -> None:
    env = {"BACKLINE_ENV": "production", "JWT_SECRET": "s" * 32}

    with pytest.raises(ConfigError, match=refusal):
        load_settings({**env, "JWT_PREVIOUS_SECRET": previous})
    assert load_settings({**env, "JWT_PREVIOUS_SECRET": "p" * 32}).jwt_previous_secret == "p" * 32
    assert load_settings(env).jwt_previous_secret == ""  # unset: no rotation under way
    # Development keeps working with anything: the bar is for production.
    assert load_settings({"JWT_PREVIOUS_SECRET": previous}).jwt_previous_secret == previous


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKER_THREADS", "many"),
        ("WORKER_THREADS", "0"),
        ("SMTP_STARTTLS", "perhaps"),
        ("HEARTBEAT_STALE_S", "-1"),
        ("BACKLINE_ENV", "staging"),
        ("LOG_FORMAT", "xml"),
        ("BROKER_URL", "kafka://x"),
        ("RATE_LIMIT_LOGIN", "lots"),
        ("RATE_LIMIT_REGISTER", "10/fortnight"),
        ("RATE_LIMIT_PER_USER", "0/minute"),
        ("RATE_LIMIT_STORAGE_URL", "memcached://127.0.0.1"),
        ("RATE_LIMITS_ENABLED", "sometimes"),
        ("TRUSTED_PROXY_COUNT", "-1"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({name: value})
    assert name in str(error.value)


def test_database_urls_are_normalised_to_psycopg3() -> None:
    for url in ("postgres://u@h/db", "postgresql://u@h/db", "postgresql+psycopg2://u@h/db"):
        assert load_settings({"DATABASE_URL": url}).database_url == "postgresql+psycopg://u@h/db"


def test_an_amqp_broker_url_takes_precedence_over_redis() -> None:
    settings = load_settings({"BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/"})
    assert settings.effective_broker_url.startswith("amqp://")


def test_token_lifetimes_and_browser_settings_have_safe_defaults() -> None:
    settings = load_settings({})
    assert settings.reset_token_ttl_s == 3600
    assert settings.email_change_token_ttl_s == 24 * 3600
    assert settings.cookie_secure is True
    assert settings.cookie_samesite == "Lax"
    assert settings.cors_origins == ()


def test_cors_origins_are_a_checked_comma_separated_list() -> None:
    settings = load_settings({"CORS_ORIGINS": "https://app.example.com, http://localhost:5173/"})
    assert settings.cors_origins == ("https://app.example.com", "http://localhost:5173")
    for bad in ("*", "https://app.example.com/path", "app.example.com"):
        with pytest.raises(ConfigError, match="CORS_ORIGINS"):
            load_settings({"CORS_ORIGINS": bad})


def test_insecure_cookies_are_for_development_only() -> None:
    assert load_settings({"COOKIE_SECURE": "false"}).cookie_secure is False
    with pytest.raises(ConfigError, match="COOKIE_SECURE"):
        load_settings({"BACKLINE_ENV": "production", "JWT_SECRET": "s" * 32, "COOKIE_SECURE": "0"})
    with pytest.raises(ConfigError, match="COOKIE_SAMESITE"):
        load_settings({"COOKIE_SAMESITE": "sometimes"})
    with pytest.raises(ConfigError, match="COOKIE_SECURE"):
        load_settings({"COOKIE_SAMESITE": "none", "COOKIE_SECURE": "false"})


def test_rate_limits_default_to_the_product_figures_and_redis() -> None:
    settings = load_settings({"REDIS_URL": "redis://cache:6379/1"})
    assert settings.rate_limits_enabled
    assert settings.rate_limit_register == "10/hour"
    assert settings.rate_limit_login == "20/minute"
    assert settings.rate_limit_password_reset == "5/hour"
    assert settings.effective_rate_limit_storage_url == "redis://cache:6379/1"
    assert settings.trusted_proxy_count == 0
    custom = load_settings({"RATE_LIMIT_LOGIN": "5 per minute", "TRUSTED_PROXY_COUNT": "2"})
    assert (custom.rate_limit_login, custom.trusted_proxy_count) == ("5 per minute", 2)


def test_a_unix_socket_redis_url_is_named_the_way_the_limits_library_wants() -> None:
    assert storage_uri("unix:///var/redis.sock?db=0") == "redis+unix:///var/redis.sock?db=0"
    assert storage_uri("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_the_login_audit_keeps_at_least_what_the_throttle_looks_back_on() -> None:
    assert load_settings({}).login_audit_retention_days == 90
    with pytest.raises(ConfigError, match="LOGIN_AUDIT_RETENTION_DAYS"):
        load_settings({"LOGIN_AUDIT_RETENTION_DAYS": "7"})
