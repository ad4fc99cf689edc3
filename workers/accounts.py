"""The accounts domain's background work: a user's export of their own data, and the login
audit kept for its retention only (LOGIN_AUDIT_RETENTION_DAYS), pruned every hour in batches."""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import Schema
from sqlalchemy import select

from models.accounts.identities import prune_sign_ins
from models.accounts.leaving import export_account
from models.accounts.logins import prune_attempts
from models.core.base import utcnow
from models.core.jobs import Job
from workers.core.context import JobContext
from workers.core.periodic import periodic
from workers.core.registry import job_kind


class ExportParams(Schema):
    """Nothing: the export is always of the job's owner."""


@job_kind(
    "accounts.export",
    params=ExportParams,
    queue="default",
    # Submitted by GET /auth/me/export only, so that the job's owner is the one exported.
    admin_only=True,
    max_attempts=3,
    time_limit_ms=5 * 60 * 1000,
)
def export_my_data(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """A JSON archive of everything Backline holds about you"""
    with ctx.sessions.begin() as session:
        owner_id = session.scalar(select(Job.owner_id).where(Job.id == uuid.UUID(ctx.job_id)))
        assert owner_id is not None  # noqa: S101 - submitted by the export view, for its caller
        archive = export_account(session=session, user_id=owner_id)
    ctx.progress(1, 1, "exported")
    return {"format": "backline-export/1", "exported_at": utcnow().isoformat(), **archive}


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
            with ctx.sessions.begin() as session:
                sign_ins = prune_sign_ins(session=session)
            return {"removed": removed, "expired_sign_ins": sign_ins}
