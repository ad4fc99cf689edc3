"""What the fans domain holds about a platform user (not about fans: those are the artist's
list): who uploaded an import, started a release or moved it along. For account export and
erasure (models/core/erasure.py), the rows stay the organisation's and lose the name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.core.erasure import Person, personal_data
from models.fans.imports import FanImport
from models.fans.releases import Release, ReleaseEvent


def _export(session: Session, person: Person) -> dict[str, Any]:
    releases = session.execute(
        select(Release.id, Release.title, Release.created_at).where(
            Release.created_by == person.user_id
        )
    ).all()
    uploads = session.execute(
        select(FanImport.id, FanImport.filename, FanImport.created_at).where(
            FanImport.created_by == person.user_id
        )
    ).all()
    return {
        "releases_started": [
            {"id": str(i), "title": t, "created_at": at.isoformat()} for i, t, at in releases
        ],
        "fan_imports_uploaded": [
            {"id": str(i), "filename": f, "created_at": at.isoformat()} for i, f, at in uploads
        ],
    }


@personal_data("fans", export=_export)
def _erase(session: Session, person: Person) -> None:
    session.execute(
        update(Release).where(Release.created_by == person.user_id).values(created_by=None)
    )
    session.execute(
        update(ReleaseEvent).where(ReleaseEvent.actor_id == person.user_id).values(actor_id=None)
    )
    session.execute(
        update(FanImport).where(FanImport.created_by == person.user_id).values(created_by=None)
    )
