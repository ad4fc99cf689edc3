"""The wallet: earnings per currency (never converted) by store, country, track and month, and
the balance each currency has left to withdraw. Read from revenue_totals (per dimension and
month, and over all time), never the raw rows.

Reports date earnings by sale month, so a range of N days covers the months that overlap it:
`days=30` on 6 December is November and December.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.revenue.tables import ALL_TIME

RANGES = (7, 30, 90)  # and None: all time
TOP = 50  # stores, countries and tracks listed per currency


def range_start(days: int | None, today: date | None = None) -> date:
    """The first month a range covers; ALL_TIME for all time."""
    if days is None:
        return ALL_TIME
    first = (today or utcnow().date()) - timedelta(days=days)
    return first.replace(day=1)


# The top TOP keys of one dimension per currency, over all time (the ALL_TIME rows) or over
# the months since :since (a few months of rows).
_TOP = """
    SELECT currency, key, title, amount, quantity FROM (
        SELECT currency, key, max(title) AS title, sum(amount) AS amount,
               sum(quantity) AS quantity,
               row_number() OVER (PARTITION BY currency ORDER BY sum(amount) DESC, key DESC) AS n
          FROM revenue_totals
         WHERE org_id = :org_id AND dimension = :dimension AND {months}
         GROUP BY currency, key
    ) ranked
     WHERE n <= :top
     ORDER BY currency, n
    """
# Over some months: the rows of those months, summed per key (a few months of keys).
_TOP_SINCE = text(_TOP.format(months="sale_month >= :since"))
# Over all time: one row per key already, read in amount order from the ranked index, TOP per
# currency, however many tracks there are.
_TOP_ALL_TIME = text(
    """
    SELECT c.currency, t.key, t.title, t.amount, t.quantity
      FROM revenue_balances c
     CROSS JOIN LATERAL (
            SELECT key, title, amount, quantity FROM revenue_totals
             WHERE org_id = :org_id AND dimension = :dimension AND sale_month = :since
               AND currency = c.currency
             ORDER BY amount DESC, key DESC LIMIT :top) t
     WHERE c.org_id = :org_id
     ORDER BY c.currency, t.amount DESC, t.key DESC
    """
)
_MONTHS = text(
    """
    SELECT currency, sale_month, sum(amount), sum(quantity) FROM revenue_totals
     WHERE org_id = :org_id AND dimension = 'store' AND sale_month > :all_time_month
       AND sale_month >= :since
     GROUP BY currency, sale_month ORDER BY currency, sale_month
    """
)


def _top(session: Session, dimension: str, params: dict[str, Any]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for currency, key, title, amount, quantity in session.execute(
        _TOP_ALL_TIME if params["all_time"] else _TOP_SINCE, {**params, "dimension": dimension}
    ):
        item = {"key": key, "amount": amount, "quantity": int(quantity)}
        if dimension == "track":
            item["title"] = title
        out[currency].append(item)
    return out


def _balances(session: Session, org_id: uuid.UUID) -> dict[str, dict[str, Decimal]]:
    rows = session.execute(
        text("SELECT currency, earned, held FROM revenue_balances WHERE org_id = :org_id"),
        {"org_id": org_id},
    )
    return {
        currency: {"earned": earned, "held": held, "available": max(earned - held, Decimal(0))}
        for currency, earned, held in rows
    }


def summary(*, session: Session, org_id: uuid.UUID, days: int | None) -> dict[str, Any]:
    """The artist's wallet over the last `days` (None: all time), one entry per currency."""
    since = range_start(days)
    params = {
        "org_id": org_id,
        "since": since,
        "all_time": days is None,
        "all_time_month": ALL_TIME,
        "top": TOP,
    }
    stores = _top(session, "store", params)
    countries = _top(session, "country", params)
    tracks = _top(session, "track", params)
    months: dict[str, list[dict]] = defaultdict(list)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for currency, month, amount, quantity in session.execute(_MONTHS, params):
        months[currency].append(
            {"month": month.strftime("%Y-%m"), "amount": amount, "quantity": int(quantity)}
        )
        totals[currency] += amount
    balances = _balances(session, org_id)
    zero = {"earned": Decimal(0), "held": Decimal(0), "available": Decimal(0)}
    return {
        "days": days,
        "since": since if days is not None else None,
        "currencies": [
            {
                "currency": currency,
                "total": totals.get(currency, Decimal(0)),
                "balance": balances.get(currency, zero),
                "by_store": stores.get(currency, []),
                "by_country": countries.get(currency, []),
                "by_track": tracks.get(currency, []),
                "by_month": months.get(currency, []),
            }
            for currency in sorted(set(totals) | set(balances))
        ],
    }


# -- the assistant's look-ups (models/assistant): small answers, read from the same totals ----
def balances(*, session: Session, org_id: uuid.UUID) -> list[dict[str, Any]]:
    """What the artist earned, what withdrawals hold and what is available, per currency."""
    return [
        {"currency": currency, **amounts}
        for currency, amounts in sorted(_balances(session, org_id).items())
    ]


def monthly_earnings(
    *, session: Session, org_id: uuid.UUID, months: int, today: date | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Earnings per sale month over the last `months` months (this one included), per
    currency: the earnings trend."""
    first = (today or utcnow().date()).replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    params = {"org_id": org_id, "since": first, "all_time_month": ALL_TIME}
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for currency, month, amount, quantity in session.execute(_MONTHS, params):
        out[currency].append(
            {"month": month.strftime("%Y-%m"), "amount": amount, "quantity": int(quantity)}
        )
    return dict(out)


_BETWEEN = text(
    """
    SELECT currency, sum(amount), sum(quantity) FROM revenue_totals
     WHERE org_id = :org_id AND dimension = 'store' AND sale_month > :all_time_month
       AND sale_month BETWEEN :first AND :last
     GROUP BY currency ORDER BY currency
    """
)


def earnings_between(
    *, session: Session, org_id: uuid.UUID, first: date, last: date
) -> list[dict[str, Any]]:
    """What the sale months from `first`'s to `last`'s earned, per currency."""
    params = {
        "org_id": org_id,
        "first": first.replace(day=1),
        "last": last,
        "all_time_month": ALL_TIME,
    }
    return [
        {"currency": currency, "amount": amount, "quantity": int(quantity)}
        for currency, amount, quantity in session.execute(_BETWEEN, params)
    ]


def top_tracks(
    *, session: Session, org_id: uuid.UUID, days: int | None, limit: int
) -> dict[str, list[dict[str, Any]]]:
    """The `limit` best-earning tracks per currency over the last `days` (None: all time)."""
    params = {
        "org_id": org_id,
        "since": range_start(days),
        "all_time": days is None,
        "all_time_month": ALL_TIME,
        "top": limit,
    }
    return dict(_top(session, "track", params))
