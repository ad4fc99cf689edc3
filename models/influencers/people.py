"""What the influencer domain holds about a person: the campaigns and searches they started,
for account export and erasure (models/core/erasure.py). The organisation keeps its
campaigns, searches and the creators they found; only the person's name on them goes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.core.erasure import Person, personal_data
from models.influencers.tables import Campaign, Search


def _export(session: Session, person: Person) -> dict[str, Any]:
    campaigns = session.scalars(
        select(Campaign).where(Campaign.created_by == person.user_id).order_by(Campaign.created_at)
    )
    searches = session.scalars(
        select(Search).where(Search.created_by == person.user_id).order_by(Search.created_at)
    )
    return {
        "campaigns": [
            {"id": str(c.id), "name": c.name, "created_at": c.created_at.isoformat()}
            for c in campaigns
        ],
        "searches": [
            {
                "id": str(s.id),
                "campaign_id": str(s.campaign_id),
                "platform": s.platform,
                "keywords": s.keywords,
                "seed_handle": s.seed_handle,
                "created_at": s.created_at.isoformat(),
            }
            for s in searches
        ],
    }


@personal_data("influencers", export=_export)
def _erase(session: Session, person: Person) -> None:
    for table in (Campaign, Search):
        session.execute(
            update(table).where(table.created_by == person.user_id).values(created_by=None)
        )
