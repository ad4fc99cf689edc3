"""The rows of a fan export, streamed from the database in batches."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.fans.fans import Fan

EXPORT_COLUMNS = (
    "name", "email", "phone", "country", "gender", "age", "birth_year", "status", "source",
    "tags", "consent", "created_at",
)  # fmt: skip


def export_rows(*, session: Session, org_id: uuid.UUID) -> Iterator[list[object]]:
    """Every fan of the organisation, oldest first, as CSV cells (tags joined with ;)."""
    query = (
        select(*(getattr(Fan, c) for c in EXPORT_COLUMNS))
        .where(Fan.org_id == org_id)
        .order_by(Fan.created_at, Fan.id)
        .execution_options(yield_per=2000)
    )
    for row in session.execute(query):
        cells = list(row)
        cells[EXPORT_COLUMNS.index("tags")] = ";".join(cells[EXPORT_COLUMNS.index("tags")])
        created = cells[-1]
        cells[-1] = created.isoformat()  # type: ignore[union-attr]
        yield cells
