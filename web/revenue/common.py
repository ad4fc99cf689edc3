"""What the revenue views share: whose ledger a request acts on, and the money field.

The artist is the organisation the request acts in (X-Organization-ID, or the caller's first).
Platform admins may name any artist with `org_id` (seed 000's upload on an artist's behalf);
anyone else naming an organisation other than the one they act in gets a 404, exactly as for
one that does not exist.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from marshmallow import fields

from models.core.errors import NotFound, PermissionDenied
from models.orgs import Organization
from web.core.auth import current_org_id, current_viewer
from web.core.context import db


class Money(fields.Decimal):
    """An exact amount, as a string in fixed notation ("0.007483664425"), never a float."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(as_string=True, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return format(Decimal(value), "f")


def artist_org(requested: uuid.UUID | None) -> uuid.UUID:
    """The organisation whose revenue the request reads or writes."""
    viewer = current_viewer()
    if requested is None:
        return current_org_id()
    if viewer.is_admin:
        if db().get(Organization, requested) is None:
            raise NotFound("organization not found", details={"org_id": str(requested)})
        return requested
    if requested != viewer.org_id:
        raise NotFound("organization not found", details={"org_id": str(requested)})
    return requested


def require_manager() -> None:
    """Money moves (withdrawals, reverts) only at the request of the artist's owners and
    admins, or of platform admins."""
    viewer = current_viewer()
    if viewer.is_admin or (viewer.role is not None and viewer.role.manages):
        return
    raise PermissionDenied("only the organization's owners and admins may do this")
