"""/healthz (the process answers) and /readyz (it can do its work): for load balancers,
orchestrators and docker-compose health checks. Neither needs a token; neither says more
than ok/failed and the schema revision."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from web.core.context import platform
from workers.core.health import readiness, report

blp = Blueprint("health", __name__, description="Liveness and readiness probes.")


class Live(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})


class CheckRead(Schema):
    ok = fields.Boolean(required=True)
    ms = fields.Float(required=True)
    detail = fields.String()
    extra = fields.Dict()


class Ready(Schema):
    status = fields.String(required=True, metadata={"description": "ready or not_ready"})
    checks = fields.Dict(keys=fields.String(), values=fields.Nested(CheckRead))


@blp.route("/healthz")
class Healthz(MethodView):
    @blp.response(200, Live)
    def get(self) -> dict[str, str]:
        """The process is up (no dependency is checked)"""
        return {"status": "ok"}


@blp.route("/readyz")
class Readyz(MethodView):
    @blp.response(200, Ready)
    @blp.alt_response(503, schema=Ready, description="A dependency failed.")
    def get(self) -> tuple[dict[str, Any], int]:
        """Database reachable with its schema at the migrations' head; broker and Redis answer"""
        body = report(readiness(platform()))
        return body, 200 if body["status"] == "ready" else 503
