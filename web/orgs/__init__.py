"""The organisations domain's API: organisations, members, roles, usage and invitations."""

from web.orgs import invitations, organizations

blueprints = [organizations.blp, invitations.blp]
