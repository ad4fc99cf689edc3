"""Who may do what with the platform's objects: members' roles and the viewer of a request.

The organisations domain stores memberships with these roles; the jobs API decides with a
`Viewer` built from them, so the platform needs neither the accounts nor the orgs domain.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Protocol


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"

    @property
    def rank(self) -> int:
        return {Role.OWNER: 3, Role.ADMIN: 2, Role.MEMBER: 1}[self]

    @property
    def manages(self) -> bool:
        """Owners and admins manage members, invitations and everyone's jobs."""
        return self.rank >= Role.ADMIN.rank


class Owned(Protocol):
    """Anything a user submitted (a job, say)."""

    @property
    def owner_id(self) -> uuid.UUID | None: ...


@dataclass(frozen=True)
class Viewer:
    """Who is asking, and for which organisation.

    A job is visible to the members of its organisation and to platform admins; it may be
    cancelled or retried by whoever submitted it, the organisation's owners and admins, and
    platform admins.
    """

    user_id: uuid.UUID
    org_id: uuid.UUID | None = None
    role: Role | None = None
    is_admin: bool = False
    # Kinds that send mail or spend external quota need a confirmed address.
    email_verified: bool = False

    def may_manage(self, job: Owned) -> bool:
        return (
            self.is_admin
            or job.owner_id == self.user_id
            or (self.role is not None and self.role.manages)
        )
