"""The scheduler's housekeeping: the login audit keeps attempts for its retention only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from models.accounts import logins
from models.accounts.users import LoginAttempt, utcnow
from workers.core import scheduler
from workers.core.setup import Platform


def test_login_attempts_past_their_retention_are_removed_in_batches(
    committed_platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert committed_platform.settings.login_audit_retention_days == 90
    now = utcnow()
    with committed_platform.sessions.begin() as session:
        session.add_all(
            LoginAttempt(
                email=f"a{days}@example.com",
                outcome="bad_credentials",
                at=now - timedelta(days=days),
            )
            for days in (100, 95, 91, 89, 10, 0)
        )
    monkeypatch.setattr(logins, "PRUNE_BATCH", 2)  # three old rows: two batches, then none

    removed = scheduler.housekeeping(committed_platform)

    with committed_platform.sessions() as session:
        kept = sorted(session.scalars(select(LoginAttempt.email)))
    assert removed == 3
    assert kept == ["a0@example.com", "a10@example.com", "a89@example.com"]
