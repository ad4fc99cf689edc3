"""The accounts domain's background work: the login audit keeps attempts for its retention
only (LOGIN_AUDIT_RETENTION_DAYS), pruned every hour in batches."""

from __future__ import annotations

from typing import Any

from models.accounts.logins import prune_attempts
from models.core.base import utcnow
from workers.core.context import JobContext
from workers.core.periodic import periodic


@periodic(
    "accounts.prune_login_attempts",
    every_s=3600,
    queue="default",
    max_attempts=3,
    time_limit_ms=10 * 60 * 1000,
)
def prune_login_attempts(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Delete login attempts older than the audit's retention, a batch per transaction."""
    removed = 0
    now = utcnow()
    while True:
        with ctx.sessions.begin() as session:
            batch = prune_attempts(
                session=session, keep_days=ctx.settings.login_audit_retention_days, now=now
            )
        removed += batch
        ctx.progress(removed, None, f"{removed} removed")
        if batch == 0:
            return {"removed": removed}
