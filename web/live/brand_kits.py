"""/api/v1/live/brand-kits: colour palette, typography, motion intensity and the effect
categories a session that follows the kit may play. Making or changing one needs the
professional tier (models/live/tiers.py); another organisation's kit answers 404."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from models.live import brand_kits
from models.live.tables import BrandKit
from web.core.auth import BEARER, auth_required, current_org_id
from web.core.context import db
from web.live.schemas import (
    BrandKitPage,
    BrandKitRead,
    BrandKitUpdate,
    BrandKitWrite,
    LivePageQuery,
)

blp = Blueprint(
    "live_brand_kits",
    __name__,
    url_prefix="/api/v1/live",
    description="Brand kits: how overlays look and which effects they may play.",
)


@blp.route("/brand-kits")
class BrandKits(MethodView):
    @blp.arguments(LivePageQuery, location="query")
    @blp.response(200, BrandKitPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The organization's brand kits, newest first"""
        items, cursor = brand_kits.list_kits(
            session=db(), org_id=current_org_id(), cursor=query.get("cursor"), limit=query["limit"]
        )
        return {"items": items, "next_cursor": cursor}

    @blp.arguments(BrandKitWrite)
    @blp.response(201, BrandKitRead)
    @blp.alt_response(403, description="tier_required: brand kits need the professional tier.")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> BrandKit:
        """Make a brand kit"""
        kit = brand_kits.create_kit(session=db(), org_id=current_org_id(), values=body)
        db().commit()
        return kit


@blp.route("/brand-kits/<uuid:kit_id>")
class BrandKitItem(MethodView):
    @blp.response(200, BrandKitRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, kit_id: uuid.UUID) -> BrandKit:
        """A brand kit"""
        return brand_kits.get_kit(session=db(), org_id=current_org_id(), kit_id=kit_id)

    @blp.arguments(BrandKitUpdate(partial=True))
    @blp.response(200, BrandKitRead)
    @blp.alt_response(403, description="tier_required: brand kits need the professional tier.")
    @blp.doc(security=BEARER)
    @auth_required
    def patch(self, body: dict[str, Any], kit_id: uuid.UUID) -> BrandKit:
        """Change a brand kit; the sessions that follow it follow the change"""
        kit = brand_kits.update_kit(
            session=db(), org_id=current_org_id(), kit_id=kit_id, values=body
        )
        db().commit()
        return kit

    @blp.response(204)
    @blp.doc(security=BEARER)
    @auth_required
    def delete(self, kit_id: uuid.UUID) -> None:
        """Delete a brand kit; the sessions that followed it follow none"""
        brand_kits.delete_kit(session=db(), org_id=current_org_id(), kit_id=kit_id)
        db().commit()
