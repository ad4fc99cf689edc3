"""Influencer campaigns: create, list, read, change and delete, within the caller's
organisation (another organisation's campaign answers 404)."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from models.influencers import Campaign
from models.influencers import campaigns as domain
from web.core.auth import BEARER, auth_required, current_org_id, current_viewer
from web.core.context import db
from web.influencers.schemas import (
    CampaignCreate,
    CampaignPage,
    CampaignRead,
    CampaignUpdate,
    PageQuery,
)

blp = Blueprint(
    "influencer_campaigns",
    __name__,
    url_prefix="/api/v1/influencers/campaigns",
    description="Influencer campaigns: the searches they run and the creators they found.",
)


@blp.route("")
class Campaigns(MethodView):
    @blp.arguments(PageQuery, location="query")
    @blp.response(200, CampaignPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List your organization's influencer campaigns, newest first"""
        items, next_cursor = domain.list_campaigns(
            session=db(), org_id=current_org_id(), cursor=query.get("cursor"), limit=query["limit"]
        )
        return {"items": items, "next_cursor": next_cursor}

    @blp.arguments(CampaignCreate)
    @blp.response(201, CampaignRead)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> Campaign:
        """Create an influencer campaign"""
        campaign = domain.create_campaign(
            session=db(), org_id=current_org_id(), user_id=current_viewer().user_id, fields=body
        )
        db().commit()
        return campaign


@blp.route("/<uuid:campaign_id>")
class CampaignItem(MethodView):
    @blp.response(200, CampaignRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, campaign_id: uuid.UUID) -> Campaign:
        """Read a campaign"""
        return domain.get_campaign(session=db(), org_id=current_org_id(), campaign_id=campaign_id)

    @blp.arguments(CampaignUpdate)
    @blp.response(200, CampaignRead)
    @blp.doc(security=BEARER)
    @auth_required
    def patch(self, body: dict[str, Any], campaign_id: uuid.UUID) -> Campaign:
        """Rename, describe, pause or archive a campaign"""
        campaign = domain.update_campaign(
            session=db(), org_id=current_org_id(), campaign_id=campaign_id, changes=body
        )
        db().commit()
        return campaign

    @blp.response(204)
    @blp.doc(security=BEARER)
    @auth_required
    def delete(self, campaign_id: uuid.UUID) -> None:
        """Delete a campaign with its searches and creators"""
        domain.delete_campaign(session=db(), org_id=current_org_id(), campaign_id=campaign_id)
        db().commit()
