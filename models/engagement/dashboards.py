"""The dashboard: each metric's series by hour, day or week over a range, its latest value and
its growth against the range before, and the derived figures — all read from the rollups.

Buckets are UTC; weeks start on Monday and are summed from the daily rollups. The answer is a
plain JSON-ready dict: the web layer caches it as it is.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.core.errors import InvalidInput
from models.engagement.formulas import DERIVED, Ratio

STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
DEFAULT_BUCKETS = {"hour": 48, "day": 30, "week": 12}
MAX_BUCKETS = 1000  # per metric and answer: 41 days by hour, 2.7 years by day
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_MONDAY = datetime(2000, 1, 3, tzinfo=UTC)


@dataclass(frozen=True)
class Range:
    """Whole buckets of one grain: [since, until)."""

    grain: str
    since: datetime
    until: datetime

    @property
    def buckets(self) -> int:
        return (self.until - self.since) // STEP[self.grain]

    @property
    def before(self) -> datetime:
        """The start of the range of the same length just before (growth compares with it)."""
        return self.since - (self.until - self.since)


def _floor(at: datetime, grain: str) -> datetime:
    at = at.astimezone(UTC)
    if grain == "hour":
        return at.replace(minute=0, second=0, microsecond=0)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day if grain == "day" else day - timedelta(days=(day - _MONDAY).days % 7)


def _ceil(at: datetime, grain: str) -> datetime:
    floor = _floor(at, grain)
    return floor if floor == at else floor + STEP[grain]


def resolve_range(grain: str, since: datetime | None, until: datetime | None) -> Range:
    """The range asked for, widened to whole buckets; the defaults end with the current one."""
    if grain not in STEP:
        raise InvalidInput(f"grain must be one of {', '.join(STEP)}")
    for name, at in (("since", since), ("until", until)):
        if at is not None and not EARLIEST <= at < LATEST:
            raise InvalidInput(f"{name} must be from 2000 to 2099", details={"field": name})
    end = _ceil(until or utcnow(), grain)
    start = _floor(since, grain) if since else end - STEP[grain] * DEFAULT_BUCKETS[grain]
    asked = Range(grain, start, end)
    if asked.since >= asked.until:
        raise InvalidInput("since must be before until")
    if asked.buckets > MAX_BUCKETS:
        raise InvalidInput(
            f"at most {MAX_BUCKETS} buckets per answer: a wider grain, or a shorter range",
            details={"max_buckets": MAX_BUCKETS, "buckets": asked.buckets},
        )
    return asked


# Hours and days are read as they are kept, a row per metric, platform and bucket (the
# bucket as its index in the range), and the platforms merged in Python: grouping in SQL would
# cost more than the merge. Weeks are summed from days in SQL; a week's last value is the one
# with the latest time, and max() over (epoch, value) arrays finds it in the hash aggregate
# (array_agg(... ORDER BY) would sort every group on its own).
_INDEX = "(extract(epoch FROM {bucket} - CAST(:since AS timestamptz)) / CAST(:step AS float8))::int"
_ROWS = f"""
SELECT metric, {_INDEX.format(bucket="bucket")}, count, sum::float8, min::float8, max::float8,
       last_value::float8, extract(epoch FROM last_at)::float8
FROM engagement_rollups
WHERE org_id = :org AND grain = :grain AND bucket >= :since AND bucket < :until {{filters}}
"""  # noqa: S608 - constant fragments; every value is a bound parameter
_LAST = "ARRAY[extract(epoch FROM last_at)::float8, last_value::float8]"
_WEEKS = f"""
SELECT metric, {_INDEX.format(bucket="date_trunc('week', bucket, 'UTC')")} AS i,
       sum(count)::bigint, sum(sum)::float8, min(min)::float8, max(max)::float8,
       (max({_LAST}))[2], (max({_LAST}))[1]
FROM engagement_rollups
WHERE org_id = :org AND grain = :grain AND bucket >= :since AND bucket < :until {{filters}}
GROUP BY metric, i
"""  # noqa: S608 - constant fragments; every value is a bound parameter
_BEFORE = """
SELECT metric, sum(sum)::float8
FROM engagement_rollups
WHERE org_id = :org AND grain = :grain AND bucket >= :before AND bucket < :since {filters}
GROUP BY metric
"""


_NAMED = re.compile(r"(?<!:):([a-z_]+)")


def _fetch(session: Session, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows as the driver gives them, in the session's transaction: at a year of days for 20
    metrics, building SQLAlchemy's rows would cost more than the query."""
    cursor = session.connection().connection.cursor(binary=True)  # no numbers parsed from text
    try:
        cursor.execute(_NAMED.sub(r"%(\1)s", sql), params)
        return cast(list[tuple[Any, ...]], cursor.fetchall())
    finally:
        cursor.close()


def _query(
    at: Range, org_id: uuid.UUID, platform: str | None, metrics: list[str] | None
) -> tuple[str, dict[str, Any]]:
    filters, params = (
        "",
        {
            "org": org_id,
            "grain": "day" if at.grain == "week" else at.grain,
            "before": at.before,
            "since": at.since,
            "until": at.until,
            "step": STEP[at.grain].total_seconds(),
        },
    )
    if platform is not None:
        filters += " AND platform = :platform"
        params["platform"] = platform
    if metrics is not None:
        filters += " AND metric = ANY(:metrics)"
        params["metrics"] = metrics
    return filters, params


class _Series:
    """One metric's figures, bucket by bucket, and its totals over the range and the one before."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.sum: list[float] = [0.0] * size
        self.count: list[int] = [0] * size
        self.min: list[float | None] = [None] * size
        self.max: list[float | None] = [None] * size
        self.last: list[float | None] = [None] * size
        self.last_at: list[float | None] = [None] * size
        self.previous_total = 0.0
        self.latest: tuple[float, float] | None = None  # (epoch seconds, value)

    def add(self, row: tuple[Any, ...]) -> None:
        """One bucket's figures of one platform (or all, for weeks): merged into the bucket."""
        _, i, count, total, low, high, last, last_at = row
        if not self.count[i]:
            self.sum[i], self.count[i], self.min[i], self.max[i] = total, count, low, high
        else:
            self.sum[i] += total
            self.count[i] += count
            self.min[i] = min(self.min[i], low)  # type: ignore[type-var]
            self.max[i] = max(self.max[i], high)  # type: ignore[type-var]
        if self.latest is None or last_at >= self.latest[0]:
            self.latest = (last_at, last)
        if self.last_at[i] is None or last_at >= self.last_at[i]:  # type: ignore[operator]
            self.last[i], self.last_at[i] = last, last_at

    def read(self) -> dict[str, Any]:
        total = sum(self.sum)
        change = total - self.previous_total
        return {
            "metric": self.name,
            "total": total,
            "count": sum(self.count),
            "latest": None
            if self.latest is None
            else {
                "value": self.latest[1],
                "recorded_at": datetime.fromtimestamp(self.latest[0], UTC).isoformat(),
            },
            "growth": {
                "previous_total": self.previous_total,
                "change": change,
                "rate": round(change / self.previous_total, 6) if self.previous_total else None,
            },
            "series": {
                "sum": self.sum,
                "count": self.count,
                "min": self.min,
                "max": self.max,
                "last": self.last,
            },
        }


def dashboard(
    *,
    session: Session,
    org_id: uuid.UUID,
    at: Range,
    platform: str | None = None,
    metrics: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The organisation's dashboard over `at` (from its rollups), as a JSON-ready dict."""
    wanted = sorted(set(metrics)) if metrics else None
    asked = None if wanted is None else sorted({*wanted, *(m for d in DERIVED for m in d.inputs)})
    filters, params = _query(at, org_id, platform, asked)
    sql = (_WEEKS if at.grain == "week" else _ROWS).format(filters=filters)
    series: dict[str, _Series] = {}
    size = at.buckets
    for row in _fetch(session, sql, params):
        one = series.get(row[0]) or series.setdefault(row[0], _Series(row[0], size))
        one.add(row)
    for name, total in _fetch(session, _BEFORE.format(filters=filters), params):
        one = series.get(name) or series.setdefault(name, _Series(name, size))
        one.previous_total = total
    step = STEP[at.grain]
    shown = [series[m] for m in sorted(series) if wanted is None or m in wanted]
    return {
        "grain": at.grain,
        "since": at.since.isoformat(),
        "until": at.until.isoformat(),
        "platform": platform,
        "buckets": [(at.since + step * i).isoformat() for i in range(size)],
        "metrics": [s.read() for s in shown],
        "derived": [_derived(d, series, size) for d in DERIVED],
    }


def _derived(ratio: Ratio, series: dict[str, _Series], size: int) -> dict[str, Any]:
    inputs = [series[m] for m in ratio.inputs if m in series]
    by_bucket = [ratio.of({s.name: s.sum[i] for s in inputs}) for i in range(size)]
    return {
        "name": ratio.name,
        "formula": ratio.formula,
        "version": ratio.version,
        "value": ratio.of({s.name: sum(s.sum) for s in inputs}),
        "previous_value": ratio.of({s.name: s.previous_total for s in inputs}),
        "series": by_bucket,
    }
