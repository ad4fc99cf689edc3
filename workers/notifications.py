"""The notifications domain's periodic job: `notifications.daily`, at 06:00 UTC, writes every
organisation's notifications of what changed since the last run (models/notifications).

Repeated, retried or late, it writes each notification once: the notification's key is
unique and each organisation's high-water mark only moves forward. A run after an outage (the
scheduler runs the latest missed slot once) reads everything since each organisation's mark.

With NOTIFICATIONS_PHRASING on, the new notifications' bodies are then phrased by the model,
one request per organisation, its tokens counted against the organisation's monthly budget
shared with the lead search (models.leads). The plain text is written first and stays
whenever the model fails, answers with nothing usable, or the budget is spent.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from models import leads, notifications
from workers.clients import openai as openai_client
from workers.core.context import JobContext
from workers.core.errors import PermanentError, TransientError
from workers.core.periodic import periodic

log = logging.getLogger("backline.notifications")

# Tokens one organisation's phrasing must still have in its budget before the model is asked.
PHRASING_TOKENS = 2_000
MAX_BODY_CHARS = 500
PROMPT = (
    "You write short, warm notifications for a music artist about their own account. "
    "Rewrite each numbered notification as one or two plain sentences (no markup, no emoji), "
    "keeping every name, figure and currency exactly as given. Answer with each number's text."
)


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
    result: dict[str, Any] = {"created": len(created), "read_until": until.isoformat()}
    if ctx.settings.notifications_phrasing and created:
        result["phrasing"] = dict(_phrase_all(ctx, created))
    return result


def _phrase_all(ctx: JobContext, created: list[uuid.UUID]) -> Counter[str]:
    """Phrase the new notifications, organisation by organisation; how each one went."""
    with ctx.sessions() as session:
        rows = notifications.written(session=session, ids=created)
    outcomes: Counter[str] = Counter()
    for org_id, group in itertools.groupby(rows, key=lambda n: n.org_id):
        outcomes[_phrase(ctx, org_id, list(group))] += 1
    return outcomes


def _phrase(ctx: JobContext, org_id: uuid.UUID, group: list[notifications.Notification]) -> str:
    with ctx.sessions.begin() as session:
        try:
            leads.check_budget(session=session, org_id=org_id, tokens=PHRASING_TOKENS)
        except leads.BudgetExceeded:
            return "over_budget"
    numbers = [str(i) for i in range(1, len(group) + 1)]
    schema = {
        "type": "object",
        "properties": {n: {"type": "string"} for n in numbers},
        "required": numbers,
        "additionalProperties": False,
    }
    listing = "\n".join(
        f"{n}. {row.title}: {row.body}" for n, row in zip(numbers, group, strict=True)
    )
    messages = [{"role": "system", "content": PROMPT}, {"role": "user", "content": listing}]
    try:
        answer = openai_client.structured(
            ctx.settings, messages=messages, name="notifications", schema=schema
        )
    except (TransientError, PermanentError) as exc:
        # The plain text is already written: a model that stays down costs the wording only.
        log.warning("notifications kept plain", extra={"org_id": str(org_id), "error": str(exc)})
        return "failed"
    with ctx.sessions.begin() as session:
        leads.record_spending(
            session=session, org_id=org_id, tokens=answer.prompt_tokens + answer.completion_tokens
        )
        for n, row in zip(numbers, group, strict=True):
            body = str(answer.data.get(n, "")).strip()
            if body and len(body) <= MAX_BODY_CHARS:
                notifications.rephrase(
                    session=session, notification_id=row.id, body=body, model=answer.model
                )
    return "phrased"
