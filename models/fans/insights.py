"""What an artist's fan list looks like, counted in SQL: by country, source, status, age
bucket and gender, and new fans per week."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Date, case, cast, extract, func, literal, select
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.fans.fans import Fan

GROWTH_WEEKS = 12
# Age buckets (the usual marketing ones); an age comes from `age`, else from `birth_year`.
_BUCKETS = ((13, 17), (18, 24), (25, 34), (35, 44), (45, 54), (55, 64))


def _age() -> Any:
    return func.coalesce(Fan.age, extract("year", func.now()) - Fan.birth_year)


def _age_bucket() -> Any:
    age = _age()
    whens = [(age.between(low, high), literal(f"{low}-{high}")) for low, high in _BUCKETS]
    return case(
        (age.is_(None), literal("unknown")),
        (age < _BUCKETS[0][0], literal(f"under {_BUCKETS[0][0]}")),
        *whens,
        else_=literal(f"{_BUCKETS[-1][1] + 1}+"),
    )


def _counts(session: Session, org_id: uuid.UUID, key: Any) -> list[dict[str, Any]]:
    label = func.coalesce(key, literal("unknown")).label("key")
    rows = session.execute(
        select(label, func.count().label("fans"))
        .where(Fan.org_id == org_id)
        .group_by(label)
        .order_by(func.count().desc(), label)
    )
    return [{"key": key, "fans": fans} for key, fans in rows]


def fan_insights(*, session: Session, org_id: uuid.UUID) -> dict[str, Any]:
    """The organisation's fans counted each way, and new fans in each of the last weeks."""
    total = session.scalar(select(func.count()).where(Fan.org_id == org_id)) or 0
    week = func.date_trunc("week", Fan.created_at)
    since = utcnow() - timedelta(weeks=GROWTH_WEEKS)
    growth = session.execute(
        select(cast(week, Date).label("week"), func.count())
        .where(Fan.org_id == org_id, Fan.created_at >= since)
        .group_by(week)
        .order_by(week)
    )
    return {
        "total": total,
        "by_country": _counts(session, org_id, Fan.country),
        "by_source": _counts(session, org_id, Fan.source),
        "by_status": _counts(session, org_id, Fan.status),
        "by_gender": _counts(session, org_id, Fan.gender),
        "by_age": _counts(session, org_id, _age_bucket()),
        "growth_by_week": [{"week": w.isoformat(), "fans": n} for w, n in growth],
    }


# -- the assistant's look-ups (models/assistant) -----------------------------------------------
def fan_summary(*, session: Session, org_id: uuid.UUID, days: int = 30) -> dict[str, int]:
    """How many fans, and the growth: new in the last `days` and in the `days` before. One
    pass over the (org_id, created_at) index alone, never the rows: it stays quick however
    many fans there are (the assistant reads it with every question)."""
    now = utcnow()
    recent, before = now - timedelta(days=days), now - timedelta(days=2 * days)
    row = session.execute(
        select(
            func.count(),
            func.count().filter(Fan.created_at >= recent),
            func.count().filter(Fan.created_at >= before, Fan.created_at < recent),
        ).where(Fan.org_id == org_id)
    ).one()
    return {
        "total": row[0],
        f"new_last_{days}_days": row[1],
        f"new_previous_{days}_days": row[2],
    }


def fans_by_country(*, session: Session, org_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    """The `limit` countries with the most fans ("unknown": fans without one)."""
    return _counts(session, org_id, Fan.country)[:limit]
