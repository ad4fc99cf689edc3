"""/api/v1/metrics: engagement points recorded one at a time or in batches, and the dashboard.

POST records a point or `{"points": [...]}` (up to 1,000): every point is checked first, and
one bad point refuses the batch (422, its index in the error's fields) with nothing stored.
GET lists them as recorded. There is no way to change or delete a point: the history is
what was recorded.

GET /dashboard reads the hourly and daily rollups kept with the points. Its answer is cached
in Redis under a key holding the organisation's data version, which every write bumps in its
own transaction: once a write has answered, no dashboard read of that organisation can be
served from before it. `X-Cache: hit` or `miss` says which it was.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from decimal import Decimal
from typing import Any

import redis
from flask import Flask, Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, pre_load, validate

from config import Settings
from models import engagement, live
from web.core import limits
from web.core.auth import BEARER, auth_required, current_org_id
from web.core.context import db
from web.core.fields import BigInt, Text

log = logging.getLogger("backline.engagement")
blp = Blueprint(
    "engagement", __name__, url_prefix="/api/v1/metrics", description="Engagement metrics."
)
EXTENSION = "backline.engagement"
_MAX = int(engagement.MAX_VALUE)  # an integer, so the OpenAPI document says a number


# -- schemas ---------------------------------------------------------------------------------
def _within_max(value: Decimal) -> None:
    if not abs(value) <= _MAX:
        raise ValidationError(f"must be between -{_MAX} and {_MAX}")


def _name(pattern: Any, what: str) -> Text:
    return Text(
        required=True,
        validate=validate.Regexp(pattern, error=f"{what}: lowercase letters, digits and _"),
    )


class PointCreate(Schema):
    metric = _name(engagement.NAME, "1-64 characters")
    value = fields.Decimal(
        required=True,
        validate=_within_max,
        # Stated here: apispec would write a Decimal field's Range as strings.
        metadata={"description": "At most 6 decimal places.", "minimum": -_MAX, "maximum": _MAX},
    )
    platform = _name(engagement.PLATFORM, "1-32 characters")
    recorded_at = fields.AwareDateTime(metadata={"description": "Default: now."})


class MetricsCreate(Schema):
    """A batch; a body that is one point (no `points`) is a batch of one."""

    points = fields.List(
        fields.Nested(PointCreate),
        required=True,
        validate=validate.Length(min=1, max=engagement.MAX_BATCH),
    )
    live_session_id = fields.UUID(
        metadata={
            "description": "The organisation's stream session these points were taken in "
            "(/api/v1/live/sessions): its figures show them. Another's is a 404."
        }
    )

    @pre_load
    def _one_point(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and "points" not in data:
            point = dict(data)
            batch = {"points": [point]}
            if "live_session_id" in point:
                batch["live_session_id"] = point.pop("live_session_id")
            return batch
        return data


class PointRead(Schema):
    id = fields.Integer(required=True)
    metric = fields.String(required=True)
    platform = fields.String(required=True)
    value = fields.Float(required=True)
    recorded_at = fields.DateTime(required=True)


class Recorded(Schema):
    recorded = fields.Integer(required=True)
    points = fields.List(fields.Nested(PointRead), required=True)


class PointQuery(Schema):
    metric = Text(validate=validate.Regexp(engagement.NAME))
    platform = Text(validate=validate.Regexp(engagement.PLATFORM))
    before = BigInt(metadata={"description": "next_before of the previous page."})
    limit = BigInt(load_default=100, validate=validate.Range(min=1, max=500))


class PointPage(Schema):
    items = fields.List(fields.Nested(PointRead), required=True)
    next_before = fields.Integer(allow_none=True, metadata={"description": "null: the last page."})


class DashboardQuery(Schema):
    grain = Text(load_default="day", validate=validate.OneOf(list(engagement.STEP)))
    since = fields.AwareDateTime(
        metadata={"description": "Default: `until` less 48 hours, 30 days or 12 weeks by grain."}
    )
    until = fields.AwareDateTime(
        metadata={"description": "Default: the end of the current bucket."}
    )
    platform = Text(validate=validate.Regexp(engagement.PLATFORM))
    metric = fields.List(
        Text(validate=validate.Regexp(engagement.NAME)),
        validate=validate.Length(max=50),
        metadata={"description": "Repeat for several; default: every metric with points."},
    )


class Latest(Schema):
    value = fields.Float(required=True)
    recorded_at = fields.DateTime(required=True)


class Growth(Schema):
    previous_total = fields.Float(
        required=True, metadata={"description": "Over the range of the same length just before."}
    )
    change = fields.Float(required=True)
    rate = fields.Float(allow_none=True, metadata={"description": "change / previous_total."})


class Series(Schema):
    sum = fields.List(fields.Float(), required=True)
    count = fields.List(fields.Integer(), required=True)
    min = fields.List(fields.Float(allow_none=True), required=True)
    max = fields.List(fields.Float(allow_none=True), required=True)
    last = fields.List(fields.Float(allow_none=True), required=True)


class MetricRead(Schema):
    metric = fields.String(required=True)
    total = fields.Float(required=True)
    count = fields.Integer(required=True)
    latest = fields.Nested(Latest, allow_none=True)
    growth = fields.Nested(Growth, required=True)
    series = fields.Nested(Series, required=True, metadata={"description": "One per bucket."})


class DerivedRead(Schema):
    name = fields.String(required=True)
    formula = fields.String(required=True)
    version = fields.Integer(required=True)
    value = fields.Float(allow_none=True, metadata={"description": "null: nothing to divide by."})
    previous_value = fields.Float(allow_none=True)
    series = fields.List(fields.Float(allow_none=True), required=True)


class DashboardRead(Schema):
    grain = fields.String(required=True)
    since = fields.DateTime(required=True)
    until = fields.DateTime(required=True)
    platform = fields.String(allow_none=True)
    buckets = fields.List(fields.DateTime(), required=True, metadata={"description": "Starts."})
    metrics = fields.List(fields.Nested(MetricRead), required=True)
    derived = fields.List(fields.Nested(DerivedRead), required=True)


# -- the cache -------------------------------------------------------------------------------
class DashboardCache:
    """Computed dashboards in Redis, keyed by organisation, data version and question.

    Redis being away costs speed only: the dashboard is then computed on every read.
    """

    def __init__(self, settings: Settings) -> None:
        self._client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=1, socket_connect_timeout=1
        )
        self._prefix = f"{settings.broker_namespace}:engagement:dashboard:"
        self.ttl_s = settings.engagement_dashboard_cache_ttl_s

    def key(self, org_id: uuid.UUID, version: int, question: dict[str, Any]) -> str:
        asked = json.dumps([engagement.DERIVED_VERSIONS, question], sort_keys=True, default=str)
        return f"{self._prefix}{org_id}:{version}:{hashlib.sha256(asked.encode()).hexdigest()}"

    def get(self, key: str) -> bytes | None:
        try:
            return self._client.get(key)  # type: ignore[return-value]
        except redis.RedisError:
            log.warning("dashboard cache unreachable; computing", exc_info=True)
            return None

    def put(self, key: str, body: bytes) -> None:
        try:
            self._client.set(key, body, ex=self.ttl_s)
        except redis.RedisError:
            log.warning("dashboard cache unreachable; not kept", exc_info=True)


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = DashboardCache(app.extensions["backline"].settings)


def _cache() -> DashboardCache:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


# -- views -----------------------------------------------------------------------------------
@blp.route("")
class Metrics(MethodView):
    @limits.per_user("rate_limit_engagement_write")
    @blp.arguments(MetricsCreate)
    @blp.response(201, Recorded)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Record a point, or a batch of up to 1,000 (all or none)"""
        session = db()
        points = [engagement.NewPoint(**p) for p in body["points"]]
        live_session_id = body.get("live_session_id")
        if live_session_id is not None:  # the organisation's own, or a 404
            live.session_of(session=session, org_id=current_org_id(), session_id=live_session_id)
        stored = engagement.record_points(
            session, current_org_id(), points, live_session_id=live_session_id
        )
        session.commit()
        return {"recorded": len(stored), "points": stored}

    @limits.per_user("rate_limit_engagement_read")
    @blp.arguments(PointQuery, location="query")
    @blp.response(200, PointPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The points as recorded, the last recorded first"""
        limit = query.pop("limit")
        items = engagement.history(db(), current_org_id(), limit=limit + 1, **query)
        more = len(items) > limit
        return {"items": items[:limit], "next_before": items[limit - 1].id if more else None}


@blp.route("/dashboard")
class Dashboard(MethodView):
    @limits.per_user("rate_limit_engagement_read")
    @blp.arguments(DashboardQuery, location="query")
    @blp.response(200, DashboardRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> Response:
        """Series per metric by hour, day or week, latest values, growth, derived figures"""
        org_id = current_org_id()
        at = engagement.resolve_range(query["grain"], query.get("since"), query.get("until"))
        question: dict[str, Any] = {
            "grain": at.grain,
            "since": at.since,
            "until": at.until,
            "platform": query.get("platform"),
            "metrics": sorted(set(query.get("metric") or [])),
        }
        session = db()
        # The version first, the rollups after: what is computed is at least as new as the
        # version it is kept under.
        key = _cache().key(org_id, engagement.data_version(session, org_id), question)
        body, state = _cache().get(key), "hit"
        if body is None:
            figures = engagement.dashboard(
                session=session,
                org_id=org_id,
                at=at,
                platform=question["platform"],
                metrics=question["metrics"] or None,
            )
            body, state = json.dumps(figures, separators=(",", ":")).encode(), "miss"
            _cache().put(key, body)
        return Response(
            body,
            200,
            mimetype="application/json",
            headers={"X-Cache": state, "Cache-Control": "private, no-store"},
        )


blueprints = [blp]
