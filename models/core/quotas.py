"""Subscription tiers' quotas and the daily counters that enforce them.

A job counts when it is created (or re-driven) by a user: diagnostic kinds and the platform's
own mails do not (see workers/core/registry.py, `counts_toward_quota`, and `internal` jobs). The
counter row of the day is locked until the submitting transaction ends, so concurrent submits
of one organisation cannot together overshoot, and a refused submit rolls back with its job.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Date, ForeignKey, Integer, bindparam, select, true
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.core.base import Base, utcnow
from models.core.db import Prepared
from models.core.errors import LimitReached, NotFound
from models.core.tenants import organizations


class Tier(enum.StrEnum):
    """An organisation's subscription tier (stored on the organisation)."""

    FREE = "free"
    CREATOR = "creator"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"


@dataclass(frozen=True)
class Quota:
    jobs_per_day: int | None  # None: unlimited


# Jobs an organisation may submit per UTC day.
QUOTAS: dict[Tier, Quota] = {
    Tier.FREE: Quota(jobs_per_day=100),
    Tier.CREATOR: Quota(jobs_per_day=1_000),
    Tier.PROFESSIONAL: Quota(jobs_per_day=10_000),
    Tier.ENTERPRISE: Quota(jobs_per_day=None),
}


class OrgUsage(Base):
    """Jobs an organisation submitted on one UTC day (the quota counter)."""

    __tablename__ = "org_usage"

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    jobs: Mapped[int] = mapped_column(Integer, server_default="0")


class QuotaExceeded(LimitReached):
    """The organisation used up a quota of its tier."""

    code = "quota_exceeded"

    def __init__(self, *, quota: str, limit: int, used: int, tier: Tier, resets_at: datetime):
        super().__init__(
            f"your organization's {tier.value} plan allows {limit} jobs per day; "
            f"the quota resets at {resets_at.isoformat()}",
            retry_after_s=int((resets_at - utcnow()).total_seconds()) + 1,
            details={
                "quota": quota,
                "limit": limit,
                "used": used,
                "tier": tier.value,
                "resets_at": resets_at.isoformat(),
            },
        )


@dataclass(frozen=True)
class QuotaUse:
    """How much of one quota is used: `limit` None means unlimited."""

    limit: int | None
    used: int
    resets_at: datetime


@dataclass(frozen=True)
class Usage:
    """Where an organisation stands today."""

    tier: Tier
    jobs_per_day: QuotaUse
    trial_ends_at: datetime | None = None  # while the tier is a trial (models/billing.py)

    @property
    def trial_days_left(self) -> int | None:
        return days_left(self.trial_ends_at)


def days_left(ends_at: datetime | None, now: datetime | None = None) -> int | None:
    """Whole days until `ends_at`, a part day counting as one (0: past; None: no date)."""
    if ends_at is None:
        return None
    left = ends_at - (now or utcnow())
    if left <= timedelta(0):
        return 0
    return left.days + (1 if left % timedelta(days=1) else 0)


def quota_day(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(UTC).date()


def quota_resets_at(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def jobs_used_today(*, session: Session, org_id: uuid.UUID) -> int:
    return (
        session.scalar(
            select(OrgUsage.jobs).where(OrgUsage.org_id == org_id, OrgUsage.day == quota_day())
        )
        or 0
    )


def jobs_per_day(*, session: Session, org_id: uuid.UUID, tier: Tier) -> QuotaUse:
    """How much of the daily job quota of an organisation of `tier` is used today."""
    return QuotaUse(
        limit=QUOTAS[tier].jobs_per_day,
        used=jobs_used_today(session=session, org_id=org_id),
        resets_at=quota_resets_at(quota_day()),
    )


def _build_consume() -> Prepared:
    """Add to the day's counter of an existing organisation, and read its tier: one statement
    (each submission that counts runs it)."""
    org = select(organizations.c.tier).where(organizations.c.id == bindparam("org_id")).cte("org")
    count = select(
        bindparam("org_id", type_=UUID(as_uuid=True)),
        bindparam("day", type_=Date),
        bindparam("count", type_=Integer),
    ).select_from(org)
    upsert = insert(OrgUsage).from_select(["org_id", "day", "jobs"], count)
    used = (
        upsert.on_conflict_do_update(
            index_elements=[OrgUsage.org_id, OrgUsage.day],
            set_={"jobs": OrgUsage.jobs + upsert.excluded.jobs},
        )
        .returning(OrgUsage.jobs)
        .cte("used")
    )
    return Prepared.compile(select(org.c.tier, used.c.jobs).select_from(org).join(used, true()))


_CONSUME = _build_consume()


def consume_job_quota(*, session: Session, org_id: uuid.UUID, count: int = 1) -> None:
    """Count `count` new jobs against the organisation's daily quota, or refuse them.

    Unlimited tiers are counted too, so their usage can be shown (and a downgrade during the
    day starts from the true figure).
    """
    day = quota_day()
    params = {"org_id": org_id, "day": day, "count": count}
    row = _CONSUME.fetchone(session, params, lambda tier, used: (Tier(tier), used))
    if row is None:
        raise NotFound("organization not found", details={"organization_id": str(org_id)})
    tier, used = row
    limit = QUOTAS[tier].jobs_per_day
    if limit is not None and used > limit:
        raise QuotaExceeded(
            quota="jobs_per_day",
            limit=limit,
            used=used - count,
            tier=tier,
            resets_at=quota_resets_at(day),
        )
