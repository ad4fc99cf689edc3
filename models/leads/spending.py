"""What lead searches spend, per organisation per UTC month, against its tier's budget:
OpenAI tokens and paid Brave Search calls (answers from the cache are free). The tokens are the
organisation's whole OpenAI spending: the assistant (workers/assistant.py) counts its replies'
tokens here too, against the same budget.

Work checks the budget before it spends (`check_budget`) and records what it spent after
(`record_spending`); past the budget, nothing more is spent until the month turns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, select
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.core.base import Base, utcnow
from models.core.errors import LimitReached
from models.core.quotas import Tier
from models.orgs import Organization


@dataclass(frozen=True)
class Budget:
    tokens: int | None  # per month; None: unlimited
    searches: int | None


BUDGETS: dict[Tier, Budget] = {
    Tier.FREE: Budget(tokens=200_000, searches=200),
    Tier.CREATOR: Budget(tokens=2_000_000, searches=2_000),
    Tier.PROFESSIONAL: Budget(tokens=20_000_000, searches=20_000),
    Tier.ENTERPRISE: Budget(tokens=None, searches=None),
}


class LeadSpending(Base):
    """Tokens and paid searches an organisation's lead searches used in one UTC month."""

    __tablename__ = "lead_spending"

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # its first day
    tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    searches: Mapped[int] = mapped_column(Integer, server_default="0")


@dataclass(frozen=True)
class Spending:
    tier: Tier
    month: date
    tokens: int
    searches: int
    budget: Budget
    resets_at: datetime


_NAMES = {"tokens": "OpenAI tokens (lead search and assistant)", "searches": "lead searches"}


class BudgetExceeded(LimitReached):
    """The organisation's lead search budget for this month is spent."""

    code = "budget_exceeded"


def _month(now: datetime) -> tuple[date, datetime]:
    first = now.date().replace(day=1)
    following = (first.replace(day=28) + (date.resolution * 4)).replace(day=1)
    return first, datetime(following.year, following.month, 1, tzinfo=UTC)


def spending_of(*, session: Session, org_id: uuid.UUID) -> Spending:
    org = session.get_one(Organization, org_id)
    month, resets_at = _month(utcnow())
    row = session.scalar(
        select(LeadSpending).where(LeadSpending.org_id == org_id, LeadSpending.month == month)
    )
    return Spending(
        tier=org.tier,
        month=month,
        tokens=row.tokens if row else 0,
        searches=row.searches if row else 0,
        budget=BUDGETS[org.tier],
        resets_at=resets_at,
    )


def check_budget(
    *, session: Session, org_id: uuid.UUID, tokens: int = 0, searches: int = 0
) -> None:
    """BudgetExceeded unless `tokens` and `searches` more fit this month's budget."""
    spent = spending_of(session=session, org_id=org_id)
    for what, used, wanted, limit in (
        ("tokens", spent.tokens, tokens, spent.budget.tokens),
        ("searches", spent.searches, searches, spent.budget.searches),
    ):
        if limit is not None and wanted and used + wanted > limit:
            raise BudgetExceeded(
                f"your organization's {spent.tier.value} plan allows {limit} "
                f"{_NAMES[what]} a month and {used} are used; "
                f"it resets at {spent.resets_at.isoformat()}",
                retry_after_s=int((spent.resets_at - utcnow()).total_seconds()),
                details={
                    "budget": what,
                    "limit": limit,
                    "used": used,
                    "resets_at": spent.resets_at.isoformat(),
                },
            )


def record_spending(
    *, session: Session, org_id: uuid.UUID, tokens: int = 0, searches: int = 0
) -> None:
    if not tokens and not searches:
        return
    month, _ = _month(utcnow())
    session.execute(
        insert(LeadSpending)
        .values(org_id=org_id, month=month, tokens=tokens, searches=searches)
        .on_conflict_do_update(
            index_elements=["org_id", "month"],
            set_={
                "tokens": LeadSpending.tokens + tokens,
                "searches": LeadSpending.searches + searches,
            },
        )
    )
