"""The engagement domain: metric points as recorded (append-only), their hourly and daily
rollups, and the dashboard read from them with its derived figures.

Other domains use what is exported here; the live domain records a stream session's metrics
with `record_points(..., live_session_id=...)` and reads them back with `session_totals`.
"""

from models.engagement.dashboards import MAX_BUCKETS, STEP, Range, dashboard, resolve_range
from models.engagement.formulas import DERIVED, DERIVED_VERSIONS, ENGAGEMENT_RATE, Ratio
from models.engagement.points import (
    MAX_BATCH,
    MAX_VALUE,
    NAME,
    PLATFORM,
    NewPoint,
    Stored,
    Totals,
    check_points,
    data_version,
    history,
    record_points,
    session_totals,
)
from models.engagement.tables import DataVersion, Point, Rollup

__all__ = [
    "DERIVED",
    "DERIVED_VERSIONS",
    "ENGAGEMENT_RATE",
    "MAX_BATCH",
    "MAX_BUCKETS",
    "MAX_VALUE",
    "NAME",
    "PLATFORM",
    "STEP",
    "DataVersion",
    "NewPoint",
    "Point",
    "Range",
    "Ratio",
    "Rollup",
    "Stored",
    "Totals",
    "check_points",
    "dashboard",
    "data_version",
    "history",
    "record_points",
    "resolve_range",
    "session_totals",
]
