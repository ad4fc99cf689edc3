"""Invitations: owners and admins invite by e-mail; the invitee accepts with the mailed token.

The token travels only in the mail (an internal email.send job, which nobody but platform
admins can read back); the API never returns it.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from models.accounts import User
from models.core.access import Role
from models.core.errors import EmailNotVerified
from models.orgs import invitations
from models.orgs import organizations as orgs
from models.orgs.invitations import Invitation
from models.orgs.organizations import MyOrganization
from web.accounts import send_mail
from web.core.auth import BEARER, auth_required
from web.core.context import db, platform
from web.core.fields import Email, Text
from web.orgs.organizations import OrgRead

blp = Blueprint("invitations", __name__, url_prefix="/api/v1", description="Invitations.")


# -- schemas ---------------------------------------------------------------------------------
class InvitationCreate(Schema):
    email = Email(required=True, validate=validate.Length(max=320))
    role = fields.Enum(Role, by_value=True, load_default=Role.MEMBER)


class InvitationRead(Schema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    role = fields.Enum(Role, by_value=True, required=True)
    invited_by = fields.UUID(allow_none=True)
    expires_at = fields.DateTime(required=True)
    created_at = fields.DateTime(required=True)


class InvitationList(Schema):
    items = fields.List(fields.Nested(InvitationRead), required=True)


class InvitationAccept(Schema):
    token = Text(required=True, validate=validate.Length(min=1, max=200))


# -- helpers ---------------------------------------------------------------------------------
def _one_line(text: str) -> str:
    """Names older than the name rules (register's organisation name) kept out of headers."""
    return " ".join(text.split())


def _mail_invitation(inviter: User, invitation: Invitation, token: str) -> None:
    settings = platform().settings
    org = orgs.organization_for(session=db(), org_id=invitation.org_id, user_id=inviter.id)
    org_name = _one_line(org.name)
    days = max(1, settings.invitation_ttl_s // 86400)
    send_mail(
        inviter,
        invitation.email,
        f"You are invited to join {org_name} on Backline",
        f"{_one_line(inviter.display_name or inviter.email)} invited you to join the "
        f'organization "{org_name}" on Backline as {invitation.role.value}.\n\n'
        f"To accept:\n"
        f"1. Register with this address ({invitation.email}) at "
        f"{settings.public_base_url}/api/v1/auth/register, or log in if you have an account.\n"
        f'2. POST the token as JSON {{"token": "..."}} with your access token to '
        f"{settings.public_base_url}/api/v1/invitations/accept\n\n"
        f"Token: {token}\n\n"
        f"It expires in {days} days ({invitation.expires_at.isoformat()}) and works once.\n"
        f"If you did not expect this invitation, ignore this mail.",
        org_id=invitation.org_id,
    )


# -- views -----------------------------------------------------------------------------------
@blp.route("/orgs/<uuid:org_id>/invitations")
class Invitations(MethodView):
    @blp.response(200, InvitationList)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, org_id: uuid.UUID) -> dict[str, Any]:
        """The organization's open invitations (owners and admins)"""
        items = invitations.open_invitations(session=db(), org_id=org_id, actor_id=g.user.id)
        return {"items": items}

    @blp.arguments(InvitationCreate)
    @blp.response(201, InvitationRead)
    @blp.alt_response(409, description="The address belongs to a member already.")
    @blp.alt_response(429, description="The organization sent its invitations for the day.")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any], org_id: uuid.UUID) -> Invitation:
        """Invite someone by e-mail (owners and admins; only owners invite owners)"""
        invitation, token = invitations.invite(
            session=db(),
            org_id=org_id,
            actor_id=g.user.id,
            email=body["email"],
            role=body["role"],
            ttl_s=platform().settings.invitation_ttl_s,
        )
        _mail_invitation(g.user, invitation, token)
        db().commit()
        return invitation


@blp.route("/orgs/<uuid:org_id>/invitations/<uuid:invitation_id>")
class InvitationItem(MethodView):
    @blp.response(204)
    @blp.doc(security=BEARER)
    @auth_required
    def delete(self, org_id: uuid.UUID, invitation_id: uuid.UUID) -> None:
        """Revoke an open invitation (owners and admins); its token stops working"""
        invitations.revoke_invitation(
            session=db(), org_id=org_id, actor_id=g.user.id, invitation_id=invitation_id
        )
        db().commit()


@blp.route("/invitations/accept")
class AcceptInvitation(MethodView):
    @blp.arguments(InvitationAccept)
    @blp.response(200, OrgRead)
    @blp.alt_response(422, description="Invalid, expired, used, or not addressed to you.")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> MyOrganization:
        """Join the organization an invitation to your e-mail address is for"""
        if g.user.email_verified_at is None:
            # The address is what the invitation trusts: it must be proven first.
            raise EmailNotVerified(
                "confirm your e-mail address before accepting an invitation",
                details={"email": g.user.email},
            )
        member = invitations.accept_invitation(
            session=db(), token=body["token"], user_id=g.user.id, user_email=g.user.email
        )
        db().commit()
        return orgs.organization_for(session=db(), org_id=member.org_id, user_id=g.user.id)
