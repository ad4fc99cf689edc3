"""The plain words of each kind of notification: what every notification says unless the
model phrased it (workers/notifications.py), and what it says when the model fails."""

from __future__ import annotations

from collections.abc import Callable

from models.notifications.changes import Change
from models.notifications.tables import Kind


def _import_landed(c: Change) -> tuple[str, str]:
    rows = int(c.facts["rows_imported"])
    return (
        "Earnings report imported",
        f"{c.facts['filename']} was imported: {rows:,} earnings rows are in your wallet.",
    )


def _release_approved(c: Change) -> tuple[str, str]:
    return "Release approved", f"Your release “{c.facts['title']}” was approved."


def _release_rejected(c: Change) -> tuple[str, str]:
    reason = c.facts.get("reason") or "no reason given"
    return (
        "Release rejected",
        f"Your release “{c.facts['title']}” was rejected: {reason}. Fix it and submit it again.",
    )


def _withdrawal_paid(c: Change) -> tuple[str, str]:
    return (
        "Withdrawal paid",
        f"Your withdrawal of {c.facts['amount']} {c.facts['currency']} was paid.",
    )


def _fan_milestone(c: Change) -> tuple[str, str]:
    milestone, fans = int(c.facts["milestone"]), int(c.facts["fans"])
    return (
        f"{milestone:,} fans",
        f"You passed {milestone:,} fans: {fans:,} people are on your list now.",
    )


TEMPLATES: dict[Kind, Callable[[Change], tuple[str, str]]] = {
    Kind.IMPORT_LANDED: _import_landed,
    Kind.RELEASE_APPROVED: _release_approved,
    Kind.RELEASE_REJECTED: _release_rejected,
    Kind.WITHDRAWAL_PAID: _withdrawal_paid,
    Kind.FAN_MILESTONE: _fan_milestone,
}


def plain(change: Change) -> tuple[str, str]:
    """The notification's title and body in plain words."""
    return TEMPLATES[change.kind](change)
