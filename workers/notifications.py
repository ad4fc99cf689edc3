"""The notifications domain's periodic job: `notifications.daily`, at 06:00 UTC, writes every
organisation's notifications of what changed since the last run (models/notifications).

Repeated, retried or late, it writes each notification once: the notification's key is
unique and each organisation's high-water mark only moves forward. A run after an outage (the
scheduler runs the latest missed slot once) reads everything since each organisation's mark.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from models import notifications
from workers.core.context import JobContext
from workers.core.periodic import periodic

log = logging.getLogger("backline.notifications")


@periodic(
    "notifications.daily",
    cron="0 6 * * *",  # UTC
    queue="notifications",
    max_attempts=5,
    time_limit_ms=30 * 60 * 1000,
)
def daily(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Write each organisation's notifications of what changed since the last run."""
    slot: datetime = params["slot"]
    with ctx.sessions.begin() as session:
        created, until = notifications.write_notifications(session=session, slot=slot)
    log.info("notifications written", extra={"created": len(created), "until": until.isoformat()})
    return {"created": len(created), "read_until": until.isoformat()}
