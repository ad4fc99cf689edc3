"""Brand kits: a creator's colours, type and motion, and the effect categories their
overlays may play. Making or changing one needs the tier that has brand kits
(models/live/tiers.py); reading and deleting do not, so a downgraded organisation keeps
control of what it made."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.core.errors import NotFound
from models.core.pages import newest_first
from models.live import tiers
from models.live.tables import BrandKit

FIELDS = ("name", "palette", "typography", "motion_intensity", "allowed_categories")


def _require(session: Session, org_id: uuid.UUID) -> None:
    tiers.require(session=session, org_id=org_id, feature="brand_kits", what="brand kits")


def create_kit(*, session: Session, org_id: uuid.UUID, values: dict[str, Any]) -> BrandKit:
    _require(session, org_id)
    kit = BrandKit(org_id=org_id, **{f: values[f] for f in FIELDS})
    session.add(kit)
    session.flush()
    return kit


def get_kit(*, session: Session, org_id: uuid.UUID, kit_id: uuid.UUID) -> BrandKit:
    kit = session.scalar(select(BrandKit).where(BrandKit.id == kit_id, BrandKit.org_id == org_id))
    if kit is None:
        raise NotFound("no brand kit with this id", details={"brand_kit_id": str(kit_id)})
    return kit


def list_kits(
    *, session: Session, org_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[BrandKit], str | None]:
    return newest_first(
        session=session,
        query=select(BrandKit).where(BrandKit.org_id == org_id),
        created_at=BrandKit.created_at,
        row_id=BrandKit.id,
        cursor=cursor,
        limit=limit,
    )


def update_kit(
    *, session: Session, org_id: uuid.UUID, kit_id: uuid.UUID, values: dict[str, Any]
) -> BrandKit:
    kit = get_kit(session=session, org_id=org_id, kit_id=kit_id)  # another's: 404 first
    _require(session, org_id)
    for name in FIELDS:
        if name in values:
            setattr(kit, name, values[name])
    kit.updated_at = utcnow()
    session.flush()
    return kit


def delete_kit(*, session: Session, org_id: uuid.UUID, kit_id: uuid.UUID) -> None:
    """Delete the kit; the sessions that followed it follow none (the foreign key says so)."""
    session.delete(get_kit(session=session, org_id=org_id, kit_id=kit_id))
    session.flush()
