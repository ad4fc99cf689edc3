"""The webhook sources' settings: secrets as comma-separated lists of at most two."""

from __future__ import annotations

import pytest

from config import ConfigError, load_settings


def test_two_secrets_at_once_are_read_for_rotation() -> None:
    settings = load_settings({"STRIPE_WEBHOOK_SECRET": "whsec_old, whsec_new", "TRIAL_DAYS": "0"})
    assert settings.stripe_webhook_secrets == ("whsec_old", "whsec_new")
    assert (settings.resend_webhook_secrets, settings.trial_days) == ((), 0)


def test_a_third_secret_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="RESEND_WEBHOOK_SECRET takes at most two"):
        load_settings({"RESEND_WEBHOOK_SECRET": "whsec_a,whsec_b,whsec_c"})
