"""Campaigns: a named set of searches and the creators they found, one organisation's own.

Every function takes the caller's organisation: a campaign of another organisation is as
absent as one that never existed (NotFound).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.core.errors import NotFound
from models.core.pages import newest_first
from models.influencers.tables import Campaign


def create_campaign(
    *, session: Session, org_id: uuid.UUID, user_id: uuid.UUID, fields: dict[str, Any]
) -> Campaign:
    campaign = Campaign(org_id=org_id, created_by=user_id, **fields)
    session.add(campaign)
    session.flush()
    session.refresh(campaign)
    return campaign


def get_campaign(
    *, session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, lock: bool = False
) -> Campaign:
    """The organisation's campaign (NotFound for anyone else's)."""
    query = select(Campaign).where(Campaign.id == campaign_id, Campaign.org_id == org_id)
    if lock:
        query = query.with_for_update()
    campaign = session.scalar(query)
    if campaign is None:
        raise NotFound("campaign not found", details={"campaign_id": str(campaign_id)})
    return campaign


def list_campaigns(
    *, session: Session, org_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Campaign], str | None]:
    """The organisation's campaigns, newest first."""
    return newest_first(
        session=session,
        query=select(Campaign).where(Campaign.org_id == org_id),
        created_at=Campaign.created_at,
        row_id=Campaign.id,
        cursor=cursor,
        limit=limit,
    )


def update_campaign(
    *, session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, changes: dict[str, Any]
) -> Campaign:
    campaign = get_campaign(session=session, org_id=org_id, campaign_id=campaign_id, lock=True)
    for name, value in changes.items():
        setattr(campaign, name, value)
    session.flush()
    session.refresh(campaign)
    return campaign


def delete_campaign(*, session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> None:
    """Delete the campaign with its searches and creators."""
    session.delete(get_campaign(session=session, org_id=org_id, campaign_id=campaign_id))
    session.flush()
