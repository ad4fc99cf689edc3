"""Figures about an organisation's leads over a time range, computed in SQL: leads by status,
source and day, conversion, how their addresses were judged, and what they cost."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, cast, func, select
from sqlalchemy.orm import Session

from models.leads.spending import LeadSpending
from models.leads.tables import Lead, LeadStatus
from models.leads.validation import EmailCheck


@dataclass(frozen=True)
class Overview:
    since: datetime
    until: datetime
    leads: int
    by_status: dict[str, int]
    by_source: dict[str, int]
    by_day: list[tuple[date, int]]
    conversion_rate: Decimal  # converted / all, 4 places
    verdicts: dict[str, int]
    valid_rate: Decimal  # addresses judged valid / addresses judged
    tokens: int  # in the months the range touches
    searches: int
    tokens_per_lead: Decimal | None
    searches_per_lead: Decimal | None


def _ratio(part: int, whole: int) -> Decimal:
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001")) if whole else Decimal(0)


def overview(*, session: Session, org_id: uuid.UUID, since: datetime, until: datetime) -> Overview:
    in_range = (Lead.org_id == org_id, Lead.created_at >= since, Lead.created_at < until)
    by_status = dict(
        session.execute(
            select(Lead.status, func.count()).where(*in_range).group_by(Lead.status)
        ).all()
    )
    by_source = dict(
        session.execute(
            select(Lead.source, func.count()).where(*in_range).group_by(Lead.source)
        ).all()
    )
    day = cast(func.date_trunc("day", func.timezone("UTC", Lead.created_at)), Date)
    by_day = [
        (row[0], row[1])
        for row in session.execute(
            select(day, func.count()).where(*in_range).group_by(day).order_by(day)
        )
    ]
    verdicts = dict(
        session.execute(
            select(EmailCheck.verdict, func.count())
            .join(Lead, Lead.id == EmailCheck.lead_id)
            .where(*in_range)
            .group_by(EmailCheck.verdict)
        ).all()
    )
    spent = session.execute(
        select(
            func.coalesce(func.sum(LeadSpending.tokens), 0),
            func.coalesce(func.sum(LeadSpending.searches), 0),
        ).where(
            LeadSpending.org_id == org_id,
            LeadSpending.month >= since.date().replace(day=1),
            LeadSpending.month < until.date(),
        )
    ).one()
    total = sum(by_status.values())
    tokens, searches = int(spent[0]), int(spent[1])
    return Overview(
        since=since,
        until=until,
        leads=total,
        by_status={s.value: by_status.get(s, 0) for s in LeadStatus},
        by_source=by_source,
        by_day=by_day,
        conversion_rate=_ratio(by_status.get(LeadStatus.CONVERTED, 0), total),
        verdicts=verdicts,
        valid_rate=_ratio(verdicts.get("valid", 0), sum(verdicts.values())),
        tokens=tokens,
        searches=searches,
        tokens_per_lead=_ratio(tokens, total) if total else None,
        searches_per_lead=_ratio(searches, total) if total else None,
    )
