"""Recording points: checked as a whole, stored with their rollups in the caller's transaction.

A batch is all or nothing: every point is checked before any is stored, and the first bad one
refuses the batch with its index. The rollups are upserted in the same transaction, so the
dashboard's figures always match the points. Writers of one organisation take its version
row first: they queue there instead of deadlocking on each other's rollup rows.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.core.errors import InvalidInput
from models.engagement.tables import GRAINS, VALUE_SCALE, DataVersion, Point

MAX_BATCH = 1000  # points per request
MAX_VALUE = Decimal(10) ** 12  # |value| at most this
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # metric names: views, likes, watch_time_s
PLATFORM = re.compile(r"^[a-z][a-z0-9_]{0,31}$")  # tiktok, youtube, twitch, …
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SKEW = timedelta(minutes=5)  # clocks of the clients that record points differ
_SMALLEST = Decimal(1).scaleb(-VALUE_SCALE)


@dataclass(frozen=True)
class NewPoint:
    metric: str
    value: Decimal
    platform: str
    recorded_at: datetime | None = None  # None: now


@dataclass(frozen=True)
class Totals:
    """One metric's points in a live session."""

    count: int
    sum: Decimal
    last_value: Decimal
    last_at: datetime


def point_problem(point: NewPoint, now: datetime) -> str | None:
    """Why `point` cannot be recorded, or None."""
    if not NAME.match(point.metric):
        return "metric must be 1-64 lowercase letters, digits or _, starting with a letter"
    if not PLATFORM.match(point.platform):
        return "platform must be 1-32 lowercase letters, digits or _, starting with a letter"
    if not point.value.is_finite() or abs(point.value) > MAX_VALUE:
        return f"value must be a finite number between -{MAX_VALUE} and {MAX_VALUE}"
    if point.value != point.value.quantize(_SMALLEST):
        return f"value must have at most {VALUE_SCALE} decimal places"
    at = point.recorded_at
    if at is not None and (at.tzinfo is None or not EARLIEST <= at <= now + FUTURE_SKEW):
        return "recorded_at must be a time with its offset, from 2000 on and not in the future"
    return None


def check_points(points: Sequence[NewPoint], now: datetime) -> None:
    """Refuse the batch at its first bad point (InvalidInput naming its index)."""
    if not 1 <= len(points) <= MAX_BATCH:
        raise InvalidInput(
            f"a batch holds 1 to {MAX_BATCH} points", details={"max_batch": MAX_BATCH}
        )
    for index, point in enumerate(points):
        if problem := point_problem(point, now):
            raise InvalidInput(f"point {index}: {problem}", details={"index": index})


@dataclass(frozen=True)
class Stored:
    """A point as stored."""

    id: int
    metric: str
    platform: str
    value: Decimal
    recorded_at: datetime


# Points and rollups go in as arrays, one statement each: a batch of 1,000 as 7,000 bound
# values would spend more time being converted than being stored. Identity values are taken
# in the order of the rows inserted, which the ORDER BY keeps the batch's.
_POINTS = """
INSERT INTO engagement_points (org_id, metric, platform, value, recorded_at, live_session_id)
SELECT :org, u.metric, u.platform, u.value, u.recorded_at, :live
FROM unnest(CAST(:metric AS text[]), CAST(:platform AS text[]), CAST(:value AS numeric[]),
            CAST(:recorded_at AS timestamptz[])) WITH ORDINALITY
     AS u(metric, platform, value, recorded_at, n)
ORDER BY u.n
RETURNING id
"""
# Rows in primary-key order, so writers that share buckets lock them in the same order.
_ROLLUPS = """
INSERT INTO engagement_rollups AS r
SELECT :org, u.grain, u.bucket, u.metric, u.platform, u.count, u.sum, u.min, u.max, u.last_at,
       u.last_value
FROM unnest(CAST(:grain AS text[]), CAST(:bucket AS timestamptz[]), CAST(:metric AS text[]),
            CAST(:platform AS text[]), CAST(:count AS bigint[]), CAST(:sum AS numeric[]),
            CAST(:min AS numeric[]), CAST(:max AS numeric[]), CAST(:last_at AS timestamptz[]),
            CAST(:last_value AS numeric[]))
     AS u(grain, bucket, metric, platform, count, sum, min, max, last_at, last_value)
ORDER BY u.grain, u.bucket, u.metric, u.platform
ON CONFLICT ON CONSTRAINT pk_engagement_rollups DO UPDATE SET
    count = r.count + excluded.count,
    sum = r.sum + excluded.sum,
    min = least(r.min, excluded.min),
    max = greatest(r.max, excluded.max),
    last_value = CASE WHEN excluded.last_at >= r.last_at THEN excluded.last_value
                      ELSE r.last_value END,
    last_at = greatest(r.last_at, excluded.last_at)
"""
_ROLLUP_COLUMNS = (
    "grain",
    "bucket",
    "metric",
    "platform",
    "count",
    "sum",
    "min",
    "max",
    "last_at",
    "last_value",
)


def record_points(
    session: Session,
    org_id: uuid.UUID,
    points: Sequence[NewPoint],
    live_session_id: uuid.UUID | None = None,
) -> list[Stored]:
    """Store `points` (all or none) and their rollups; the caller commits.

    The live domain records the metrics of a stream session through this, naming the session.
    """
    now = utcnow()
    check_points(points, now)
    _bump_version(session, org_id)
    times = [(p.recorded_at or now).astimezone(UTC) for p in points]
    ids = session.scalars(
        text(_POINTS),
        {
            "org": org_id,
            "live": live_session_id,
            "metric": [p.metric for p in points],
            "platform": [p.platform for p in points],
            "value": [p.value for p in points],
            "recorded_at": times,
        },
    ).all()
    stored = [
        Stored(i, p.metric, p.platform, p.value, at)
        for i, p, at in zip(sorted(ids), points, times, strict=True)
    ]
    _roll_up(session, org_id, stored)
    return stored


def _bump_version(session: Session, org_id: uuid.UUID) -> None:
    statement = pg_insert(DataVersion).values(org_id=org_id, version=1)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[DataVersion.org_id], set_={"version": DataVersion.version + 1}
        )
    )


def data_version(session: Session, org_id: uuid.UUID) -> int:
    """How many writes the organisation's points have had (0: none)."""
    version = session.scalar(select(DataVersion.version).where(DataVersion.org_id == org_id))
    return version or 0


def _truncate(at: datetime, grain: str) -> datetime:
    at = at.astimezone(UTC)
    if grain == "hour":
        return at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def _roll_up(session: Session, org_id: uuid.UUID, points: Iterable[Stored]) -> None:
    buckets: dict[tuple[str, datetime, str, str], list[Any]] = {}
    for point in points:
        for grain in GRAINS:
            key = (grain, _truncate(point.recorded_at, grain), point.metric, point.platform)
            row = buckets.get(key)
            value, at = point.value, point.recorded_at
            if row is None:
                buckets[key] = [*key, 1, value, value, value, at, value]
                continue
            row[4] += 1
            row[5] += value
            row[6], row[7] = min(row[6], value), max(row[7], value)
            if at >= row[8]:  # of two points at one time, the later sent
                row[8], row[9] = at, value
    rows = list(buckets.values())
    params: dict[str, Any] = {"org": org_id}
    for n, column in enumerate(_ROLLUP_COLUMNS):
        params[column] = [row[n] for row in rows]
    session.execute(text(_ROLLUPS), params)


def session_totals(
    session: Session, org_id: uuid.UUID, live_session_id: uuid.UUID
) -> dict[str, Totals]:
    """Each metric's points recorded in a live session (all platforms), by metric name."""
    ranked = (
        select(
            Point.metric,
            func.count().over(partition_by=Point.metric).label("count"),
            func.sum(Point.value).over(partition_by=Point.metric).label("sum"),
            Point.value,
            Point.recorded_at,
            func.row_number()
            .over(partition_by=Point.metric, order_by=(Point.recorded_at.desc(), Point.id.desc()))
            .label("rank"),
        )
        .where(Point.org_id == org_id, Point.live_session_id == live_session_id)
        .subquery()
    )
    rows = session.execute(
        select(ranked.c.metric, ranked.c.count, ranked.c.sum, ranked.c.value, ranked.c.recorded_at)
        .where(ranked.c.rank == 1)
        .order_by(ranked.c.metric)
    )
    return {
        metric: Totals(count=count, sum=total, last_value=value, last_at=at)
        for metric, count, total, value, at in rows
    }


def history(
    session: Session,
    org_id: uuid.UUID,
    *,
    metric: str | None = None,
    platform: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[Point]:
    """The points as they were recorded, the last recorded first; `before`: an id, to page."""
    query = select(Point).where(Point.org_id == org_id)
    if metric is not None:
        query = query.where(Point.metric == metric)
    if platform is not None:
        query = query.where(Point.platform == platform)
    if before is not None:
        query = query.where(Point.id < before)
    return list(session.scalars(query.order_by(Point.id.desc()).limit(limit)))
