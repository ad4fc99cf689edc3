"""The organisations domain: organisations, their members and roles, and invitations.
Other domains use it through the names below only.

It exports nothing of models/orgs/invitations.py, which needs the accounts domain: so
importing either domain first works (accounts -> orgs -> organizations, no cycle).
"""

from models.orgs.organizations import (
    Membership,
    Organization,
    SoleOwnerships,
    create_organization,
    delete_organization,
    get_membership,
    primary_org_id,
    require_role,
    sole_ownerships,
)

__all__ = [
    "Membership",
    "Organization",
    "create_organization",
    "delete_organization",
    "get_membership",
    "primary_org_id",
    "require_role",
    "sole_ownerships",
    "SoleOwnerships",
]
