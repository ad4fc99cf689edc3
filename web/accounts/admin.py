"""/api/v1/admin: platform admins look up users and organisations, and change tiers and
admin rights. Everyone else gets 403 (these routes are no secret; what they show is)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from models.accounts import admin
from models.accounts.users import User
from models.core.quotas import Tier
from models.orgs import Organization
from web.accounts.auth import UserRead
from web.core.auth import BEARER, admin_required
from web.core.context import db
from web.core.fields import BigInt, Text

blp = Blueprint(
    "admin", __name__, url_prefix="/api/v1/admin", description="Platform administration."
)


# -- schemas ---------------------------------------------------------------------------------
class AdminQuery(Schema):
    q = Text(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Part of an e-mail address or name."},
    )
    cursor = Text(validate=validate.Length(max=200))
    limit = BigInt(load_default=20, validate=validate.Range(min=1, max=100))


class UserPage(Schema):
    items = fields.List(fields.Nested(UserRead), required=True)
    next_cursor = fields.String(allow_none=True)


class AdminOrgRead(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    tier = fields.Enum(Tier, by_value=True, required=True)
    members = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class OrgPage(Schema):
    items = fields.List(fields.Nested(AdminOrgRead), required=True)
    next_cursor = fields.String(allow_none=True)


class AdminOrgUpdate(Schema):
    tier = fields.Enum(Tier, by_value=True, required=True)


class AdminUserUpdate(Schema):
    is_admin = fields.Boolean(required=True)


def _with_members(items: list[Organization]) -> list[dict[str, Any]]:
    counts = admin.member_counts(session=db(), org_ids=[org.id for org in items])
    return [
        {
            "id": org.id,
            "name": org.name,
            "tier": org.tier,
            "members": counts.get(org.id, 0),
            "created_at": org.created_at,
            "updated_at": org.updated_at,
        }
        for org in items
    ]


# -- views -----------------------------------------------------------------------------------
@blp.route("/users")
class AdminUsers(MethodView):
    @blp.arguments(AdminQuery, location="query")
    @blp.response(200, UserPage)
    @blp.doc(security=BEARER)
    @admin_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """All users, newest first; ?q= searches e-mail addresses and names"""
        items, next_cursor = admin.search_users(
            session=db(), q=query.get("q"), cursor=query.get("cursor"), limit=query["limit"]
        )
        return {"items": items, "next_cursor": next_cursor}


@blp.route("/users/<uuid:user_id>")
class AdminUserItem(MethodView):
    @blp.arguments(AdminUserUpdate)
    @blp.response(200, UserRead)
    @blp.doc(security=BEARER)
    @admin_required
    def patch(self, body: dict[str, Any], user_id: uuid.UUID) -> User:
        """Grant or withdraw platform admin rights (never your own)"""
        user = admin.set_platform_admin(
            session=db(), actor_id=g.user.id, user_id=user_id, is_admin=body["is_admin"]
        )
        db().commit()
        return user


@blp.route("/orgs")
class AdminOrgs(MethodView):
    @blp.arguments(AdminQuery, location="query")
    @blp.response(200, OrgPage)
    @blp.doc(security=BEARER)
    @admin_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """All organizations, newest first, with their tier; ?q= searches names"""
        items, next_cursor = admin.search_organizations(
            session=db(), q=query.get("q"), cursor=query.get("cursor"), limit=query["limit"]
        )
        return {"items": _with_members(items), "next_cursor": next_cursor}


@blp.route("/orgs/<uuid:org_id>")
class AdminOrgItem(MethodView):
    @blp.arguments(AdminOrgUpdate)
    @blp.response(200, AdminOrgRead)
    @blp.doc(security=BEARER)
    @admin_required
    def patch(self, body: dict[str, Any], org_id: uuid.UUID) -> dict[str, Any]:
        """Move an organization to another subscription tier (quotas change at once)"""
        org = admin.set_tier(session=db(), actor_id=g.user.id, org_id=org_id, tier=body["tier"])
        db().commit()
        [row] = _with_members([org])
        return row
