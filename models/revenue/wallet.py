"""The wallet: earnings per currency (never converted) by store, country, track and month, and
the balance each currency has left to withdraw. Read from the rollups, never the raw rows.

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

RANGES = (7, 30, 90)  # and None: all time
TOP = 50  # stores, countries and tracks listed per currency


def range_start(days: int | None, today: date | None = None) -> date:
    if days is None:
        return date(1, 1, 1)
    first = (today or utcnow().date()) - timedelta(days=days)
    return first.replace(day=1)


def _grouped(session: Session, column: str, params: dict[str, Any]) -> dict[str, list[dict]]:
    """Amount and quantity per `column` (a name from our own code, never input)."""
    label = "title" if column == "isrc" else column
    rows = session.execute(
        text(
            f"""
            SELECT currency, {column} AS key, max({label}) AS label,
                   sum(amount) AS amount, sum(quantity) AS quantity
              FROM revenue_rollups
             WHERE org_id = :org_id AND sale_month >= :since
             GROUP BY currency, {column}
             ORDER BY currency, sum(amount) DESC, {column}
            """  # noqa: S608 - column and label are constants of this module
        ),
        params,
    )
    out: dict[str, list[dict]] = defaultdict(list)
    for currency, key, name, amount, quantity in rows:
        if len(out[currency]) < TOP:
            item = {"key": key, "amount": amount, "quantity": int(quantity)}
            if column == "isrc":
                item["title"] = name
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
    params = {"org_id": org_id, "since": range_start(days)}
    stores = _grouped(session, "store", params)
    countries = _grouped(session, "country", params)
    tracks = _grouped(session, "isrc", params)
    months: dict[str, list[dict]] = defaultdict(list)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for currency, month, amount, quantity in session.execute(
        text(
            """
            SELECT currency, sale_month, sum(amount), sum(quantity) FROM revenue_rollups
             WHERE org_id = :org_id AND sale_month >= :since
             GROUP BY currency, sale_month ORDER BY currency, sale_month
            """
        ),
        params,
    ):
        months[currency].append(
            {"month": month.strftime("%Y-%m"), "amount": amount, "quantity": int(quantity)}
        )
        totals[currency] += amount
    balances = _balances(session, org_id)
    zero = {"earned": Decimal(0), "held": Decimal(0), "available": Decimal(0)}
    return {
        "days": days,
        "since": params["since"] if days is not None else None,
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
