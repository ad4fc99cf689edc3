"""/api/v1/fans: the artist's fan list (the artist is the organisation the request acts in)."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from models.fans import fans as fans_domain
from models.fans.checkouts import remove_fan
from models.fans.fans import Fan, FanFilter
from models.fans.insights import fan_insights
from web.core.auth import BEARER, auth_required, current_org_id
from web.core.context import db
from web.fans.schemas import FanPage, FanQuery, FanRead, FanUpdate, FanWrite, Insights

blp = Blueprint("fans", __name__, url_prefix="/api/v1/fans", description="An artist's fans.")


@blp.route("")
class Fans(MethodView):
    @blp.arguments(FanQuery, location="query")
    @blp.response(200, FanPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List fans, newest first: search by name or e-mail, filter, page with the cursor"""
        filters = FanFilter(
            **{k: query.get(k) for k in ("search", "status", "country", "source", "gender", "tag")}
        )
        items, next_cursor = fans_domain.list_fans(
            session=db(),
            org_id=current_org_id(),
            filters=filters,
            cursor=query.get("cursor"),
            limit=query["limit"],
        )
        return {"items": items, "next_cursor": next_cursor}

    @blp.arguments(FanWrite)
    @blp.response(201, FanRead)
    @blp.alt_response(409, description="A fan with this e-mail is on the list (details.fan).")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> Fan:
        """Add a fan; the e-mail address is unique on the list"""
        fan = fans_domain.create_fan(session=db(), org_id=current_org_id(), values=body)
        db().commit()
        return fan


@blp.route("/insights")
class FanInsights(MethodView):
    @blp.response(200, Insights)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self) -> dict[str, Any]:
        """Fans by country, source, status, gender and age; new fans per week"""
        return fan_insights(session=db(), org_id=current_org_id())


@blp.route("/<uuid:fan_id>")
class FanItem(MethodView):
    @blp.response(200, FanRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, fan_id: uuid.UUID) -> Fan:
        """One fan"""
        return fans_domain.get_fan(session=db(), org_id=current_org_id(), fan_id=fan_id)

    @blp.arguments(FanUpdate(partial=True))
    @blp.response(200, FanRead)
    @blp.alt_response(409, description="Another fan has this e-mail address.")
    @blp.doc(security=BEARER)
    @auth_required
    def patch(self, body: dict[str, Any], fan_id: uuid.UUID) -> Fan:
        """Change a fan's fields"""
        fan = fans_domain.update_fan(
            session=db(), org_id=current_org_id(), fan_id=fan_id, values=body
        )
        db().commit()
        return fan

    @blp.response(204)
    @blp.doc(security=BEARER)
    @auth_required
    def delete(self, fan_id: uuid.UUID) -> None:
        """Remove a fan from the list"""
        remove_fan(session=db(), org_id=current_org_id(), fan_id=fan_id)
        db().commit()
