"""/api/v1/orgs: your organisations, their members and roles, and their usage.

An organisation you are not a member of answers 404 everywhere, exactly like one that does
not exist; inside your organisation, an action your role does not allow answers 403 naming
the role it needs. Invitations are in web/orgs/invitations.py.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from models.billing import start_trial
from models.core.access import Role
from models.core.quotas import Tier, Usage
from models.mail import Trigger, enrol_on_event
from models.orgs import organizations as orgs
from models.orgs.organizations import Membership, MyOrganization
from web.core.auth import BEARER, auth_required
from web.core.context import db, platform
from web.core.fields import Name

blp = Blueprint(
    "orgs", __name__, url_prefix="/api/v1/orgs", description="Organisations and members."
)


# -- schemas ---------------------------------------------------------------------------------
class OrgCreate(Schema):
    name = Name(required=True)


class OrgUpdate(Schema):
    name = Name(required=True)


class OrgRead(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    tier = fields.Enum(Tier, by_value=True, required=True)
    role = fields.Enum(Role, by_value=True, required=True, metadata={"description": "Yours."})
    created_at = fields.DateTime(required=True)


class OrgList(Schema):
    items = fields.List(fields.Nested(OrgRead), required=True)


class MemberRead(Schema):
    user_id = fields.UUID(required=True)
    email = fields.Function(lambda m: m.user.email, required=True)
    display_name = fields.Function(lambda m: m.user.display_name, allow_none=True)
    role = fields.Enum(Role, by_value=True, required=True)
    joined_at = fields.DateTime(attribute="created_at", required=True)


class MemberList(Schema):
    items = fields.List(fields.Nested(MemberRead), required=True)


class MemberUpdate(Schema):
    role = fields.Enum(Role, by_value=True, required=True)


class JobsPerDay(Schema):
    limit = fields.Integer(
        required=True, allow_none=True, metadata={"description": "null: unlimited."}
    )
    used = fields.Integer(required=True, metadata={"description": "Today (UTC)."})
    resets_at = fields.DateTime(required=True)


class UsageRead(Schema):
    tier = fields.Enum(Tier, by_value=True, required=True)
    jobs_per_day = fields.Nested(JobsPerDay, required=True)
    trial_ends_at = fields.DateTime(
        allow_none=True, metadata={"description": "null: the tier is not a trial."}
    )
    trial_days_left = fields.Integer(allow_none=True, metadata={"description": "0: ended."})


# -- views -----------------------------------------------------------------------------------
@blp.route("")
class Orgs(MethodView):
    @blp.response(200, OrgList)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self) -> dict[str, Any]:
        """The organisations you belong to, with your role in each"""
        return {"items": orgs.organizations_of(session=db(), user_id=g.user.id)}

    @blp.arguments(OrgCreate)
    @blp.response(201, OrgRead)
    @blp.alt_response(409, description="You own as many organizations as one user may.")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> MyOrganization:
        """Create an organization; you become its owner"""
        org = orgs.create_owned_organization(session=db(), name=body["name"], owner_id=g.user.id)
        start_trial(session=db(), org_id=org.id, days=platform().settings.trial_days)
        enrol_on_event(session=db(), trigger=Trigger.TRIAL_STARTED, org_id=org.id)
        db().commit()
        return orgs.organization_for(session=db(), org_id=org.id, user_id=g.user.id)


@blp.route("/<uuid:org_id>")
class OrgItem(MethodView):
    @blp.response(200, OrgRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, org_id: uuid.UUID) -> MyOrganization:
        """One of your organizations"""
        return orgs.organization_for(session=db(), org_id=org_id, user_id=g.user.id)

    @blp.arguments(OrgUpdate)
    @blp.response(200, OrgRead)
    @blp.doc(security=BEARER)
    @auth_required
    def patch(self, body: dict[str, Any], org_id: uuid.UUID) -> MyOrganization:
        """Rename the organization (owners and admins)"""
        org = orgs.rename_organization(
            session=db(), org_id=org_id, actor_id=g.user.id, name=body["name"]
        )
        db().commit()
        return org


@blp.route("/<uuid:org_id>/members")
class Members(MethodView):
    @blp.response(200, MemberList)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, org_id: uuid.UUID) -> dict[str, Any]:
        """Everyone in the organization and their roles"""
        return {"items": orgs.list_members(session=db(), org_id=org_id, user_id=g.user.id)}


@blp.route("/<uuid:org_id>/members/<uuid:user_id>")
class MemberItem(MethodView):
    @blp.arguments(MemberUpdate)
    @blp.response(200, MemberRead)
    @blp.alt_response(409, description="The organization would be left without an owner.")
    @blp.doc(security=BEARER)
    @auth_required
    def patch(self, body: dict[str, Any], org_id: uuid.UUID, user_id: uuid.UUID) -> Membership:
        """Change a member's role (owners: any role; admins: between member and admin)"""
        member = orgs.change_role(
            session=db(), org_id=org_id, actor_id=g.user.id, user_id=user_id, role=body["role"]
        )
        db().commit()
        return member

    @blp.response(204)
    @blp.alt_response(409, description="The last owner cannot leave.")
    @blp.doc(security=BEARER)
    @auth_required
    def delete(self, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Remove a member (owners and admins), or leave with your own user id"""
        orgs.remove_member(session=db(), org_id=org_id, actor_id=g.user.id, user_id=user_id)
        db().commit()


@blp.route("/<uuid:org_id>/usage")
class UsageToday(MethodView):
    @blp.response(200, UsageRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, org_id: uuid.UUID) -> Usage:
        """The organization's tier and how much of its daily job quota is used"""
        return orgs.usage_today(session=db(), org_id=org_id, member_id=g.user.id)
