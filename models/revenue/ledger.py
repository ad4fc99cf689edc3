"""Writing an import into the ledger: earnings rows by COPY, rejections, then the rollups and
the balance, all in the caller's one transaction (a failed or cancelled import leaves nothing).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, cast

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.revenue.tables import Rejection, Upload, UploadStatus

# At most this many rejected rows are kept per upload (all are counted).
MAX_KEPT_REJECTIONS = 10_000

EARNING_COLUMNS = (
    "upload_id",
    "row_number",
    "org_id",
    "sale_month",
    "store",
    "country",
    "isrc",
    "upc",
    "artist",
    "title",
    "quantity",
    "amount",
    "currency",
)
_COPY = f"COPY revenue_earnings ({', '.join(EARNING_COLUMNS)}) FROM STDIN"


def driver_connection(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session's transaction (for COPY)."""
    raw = session.connection().connection.driver_connection
    return cast("psycopg.Connection[Any]", raw)


def copy_earnings(session: Session, rows: Iterable[Sequence[Any]]) -> None:
    """COPY rows (in EARNING_COLUMNS order) into revenue_earnings."""
    with driver_connection(session).cursor() as cursor, cursor.copy(_COPY) as copy:
        for row in rows:
            copy.write_row(row)


def add_rejections(
    session: Session, upload_id: uuid.UUID, kept_so_far: int, rejected: list[tuple[int, str]]
) -> None:
    room = MAX_KEPT_REJECTIONS - kept_so_far
    if room <= 0 or not rejected:
        return
    session.add_all(
        Rejection(upload_id=upload_id, row_number=number, reason=reason[:500])
        for number, reason in rejected[:room]
    )
    session.flush()


_ROLL_UP = text(
    """
    WITH added AS (
        INSERT INTO revenue_rollups AS r
               (org_id, currency, sale_month, store, country, isrc, title, amount, quantity, rows)
        SELECT :org_id, currency, sale_month, store, country, isrc, max(title),
               sum(amount), sum(quantity), count(*)
          FROM revenue_earnings WHERE upload_id = :upload_id
         GROUP BY currency, sale_month, store, country, isrc
        ON CONFLICT (org_id, currency, sale_month, store, country, isrc) DO UPDATE
           SET amount = r.amount + excluded.amount, quantity = r.quantity + excluded.quantity,
               rows = r.rows + excluded.rows, title = excluded.title
        RETURNING (xmax <> 0) AS existed
    )
    SELECT count(*) FILTER (WHERE existed) FROM added
    """
)
_EARN = text(
    """
    INSERT INTO revenue_balances AS b (org_id, currency, earned, held)
    SELECT :org_id, currency, sum(amount), 0 FROM revenue_earnings
     WHERE upload_id = :upload_id GROUP BY currency
    ON CONFLICT (org_id, currency) DO UPDATE SET earned = b.earned + excluded.earned
    """
)


def finish_import(
    session: Session, upload: Upload, *, format_name: str, imported: int, rejected: int
) -> None:
    """Roll the upload's rows up into the artist's rollups and balance, and mark it imported.
    Keys that were already in the rollups came from another upload: possible double counting.
    """
    params = {"org_id": upload.org_id, "upload_id": upload.id}
    upload.overlapping_keys = int(session.execute(_ROLL_UP, params).scalar_one())
    session.execute(_EARN, params)
    upload.format = format_name
    upload.rows_imported = imported
    upload.rows_rejected = rejected
    upload.status = UploadStatus.IMPORTED
    upload.imported_at = utcnow()
    upload.error = None
    session.flush()


def fail_import(session: Session, upload: Upload, error: str) -> None:
    upload.status = UploadStatus.FAILED
    upload.error = error[:4000]
    session.flush()
