"""What the assistant is told about the artist: their own data, read through the domains' own
queries, only the caller's organisation's, bounded to a token budget.

Each part (profile, wallet, earnings trend, releases, fans, landing page) is written as
compact JSON, in full and, for the big ones, summarised. While the whole is over the budget,
the largest part is summarised, or cut when it is summarised already or has no summary; what
was included, summarised and cut goes with the reply (its `meta`), so an answer can be read
knowing what the model saw. Tokens are estimated at four characters each, as OpenAI's
guidance has it for English: good enough for a budget, with no tokenizer to ship.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from models import fans, revenue
from models.assistant.onboarding import onboarding_state, profile_of
from models.core.base import utcnow

TREND_MONTHS = 12
LATEST_RELEASES = 5


def estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _json(value: Any) -> str:
    def default(item: Any) -> Any:
        if isinstance(item, Decimal):
            return str(item)
        if hasattr(item, "isoformat"):
            return item.isoformat()
        raise TypeError(type(item).__name__)

    return json.dumps(value, default=default, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Part:
    name: str
    data: Any
    summary: Any = None  # a shorter form, when the part has one
    summarised: bool = False

    @property
    def text(self) -> str:
        return _json(self.summary if self.summarised else self.data)


@dataclass
class Context:
    """The parts given to the model, and what became of each."""

    parts: list[Part]
    budget_tokens: int
    cut: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(estimate_tokens(p.text) for p in self.parts)

    def prompt(self) -> str:
        return "\n".join(f"{p.name}: {p.text}" for p in self.parts)

    def meta(self) -> dict[str, Any]:
        return {
            "included": [p.name for p in self.parts],
            "summarised": [p.name for p in self.parts if p.summarised],
            "cut": list(self.cut),
            "tokens": self.tokens,
            "budget_tokens": self.budget_tokens,
        }

    def as_json(self) -> dict[str, Any]:
        """The parts' data as sent (summaries where summarised), for GET /assistant/context."""
        return {p.name: json.loads(p.text) for p in self.parts}


def _wallet(session: Session, org_id: uuid.UUID) -> Part:
    return Part("wallet", revenue.balances(session=session, org_id=org_id))


def _trend(session: Session, org_id: uuid.UUID) -> Part:
    months = revenue.monthly_earnings(session=session, org_id=org_id, months=TREND_MONTHS)
    # Summarised: each currency's last three months only.
    return Part("earnings_trend", months, {c: m[-3:] for c, m in months.items()})


def _releases(session: Session, org_id: uuid.UUID) -> Part:
    summary = fans.release_summary(session=session, org_id=org_id, latest=LATEST_RELEASES)
    return Part("releases", summary, {"by_status": summary["by_status"]})


class _Recent:
    """What was read lately, per organisation, for at most `ttl_s` (this process only)."""

    def __init__(self, ttl_s: float, most: int = 10_000) -> None:
        self.ttl_s, self.most = ttl_s, most
        self._held: dict[uuid.UUID, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, org_id: uuid.UUID, read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            held = self._held.get(org_id)
        if held is not None and now - held[0] < self.ttl_s:
            return held[1]
        value = read()
        with self._lock:
            if len(self._held) >= self.most:
                self._held.clear()
            self._held[org_id] = (now, value)
        return value

    def forget(self) -> None:
        with self._lock:
            self._held.clear()


# Counting a big fan list is the one part that costs a pass over many rows (100,000 fans:
# tens of milliseconds); a conversation asks about it many times a minute, a count a minute
# old answers as well, and it says when it was counted. By country is a tool (tools.py),
# asked only when a question needs it.
FANS_MAX_AGE_S = 60.0
recent_fans = _Recent(FANS_MAX_AGE_S)


def _fans(session: Session, org_id: uuid.UUID) -> Part:
    def count() -> dict[str, Any]:
        return {
            **fans.fan_summary(session=session, org_id=org_id),
            "counted_at": utcnow().isoformat(timespec="seconds"),
        }

    return Part("fans", recent_fans.get(org_id, count))


def _page(session: Session, org_id: uuid.UUID) -> Part:
    page = fans.page_summary(session=session, org_id=org_id)
    summary = None
    if page is not None:
        summary = {k: page[k] for k in ("slug", "name", "published")}
    return Part("landing_page", page, summary)


def _profile(session: Session, org_id: uuid.UUID) -> Part:
    state = onboarding_state(profile_of(session=session, org_id=org_id))
    return Part("artist_profile", state["answers"])


# In the order the model reads them.
PARTS: tuple[Callable[[Session, uuid.UUID], Part], ...] = (
    _profile,
    _wallet,
    _trend,
    _releases,
    _fans,
    _page,
)


def assemble(*, session: Session, org_id: uuid.UUID, budget_tokens: int) -> Context:
    """The organisation's context, within `budget_tokens` (largest parts shortened first)."""
    return fit(Context([read(session, org_id) for read in PARTS], budget_tokens))


def fit(context: Context) -> Context:
    """Shorten `context` to its budget: the largest part summarised, or cut when it is
    summarised already or has no summary, until the rest fits."""
    while context.parts and context.tokens > context.budget_tokens:
        largest = max(context.parts, key=lambda p: estimate_tokens(p.text))
        if largest.summary is not None and not largest.summarised:
            largest.summarised = True
        else:
            context.parts.remove(largest)
            context.cut.append(largest.name)
    return context
