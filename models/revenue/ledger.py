"""Writing an import into the ledger: earnings rows by COPY, rejections, then the rollups, the
wallet's totals and the balance, all in the caller's one transaction (a failed or cancelled
import leaves nothing). A revert runs the same roll-up with the opposite sign.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, cast

import psycopg
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import text
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.revenue.tables import ALL_TIME, Rejection, Upload, UploadStatus

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


@contextmanager
def earnings_writer(session: Session) -> Iterator[Callable[[Sequence[Any]], None]]:
    """`write(row)` for rows in EARNING_COLUMNS order, all in one COPY into revenue_earnings.
    A thread sends the data while the caller reads the next rows (psycopg's queued writer);
    no other statement may run on the session until the block ends."""
    cursor = driver_connection(session).cursor()
    with cursor, cursor.copy(_COPY, writer=QueuedLibpqWriter(cursor)) as copy:
        yield copy.write_row


def add_rejections(session: Session, upload_id: uuid.UUID, rejected: list[tuple[int, str]]) -> None:
    """Keep the rejected rows (the first MAX_KEPT_REJECTIONS: the caller keeps no more)."""
    if rejected:
        session.add_all(
            Rejection(upload_id=upload_id, row_number=number, reason=reason[:500])
            for number, reason in rejected[:MAX_KEPT_REJECTIONS]
        )
        session.flush()


_DELTA = text(
    """
    CREATE TEMPORARY TABLE revenue_delta ON COMMIT DROP AS
    SELECT currency, sale_month, store, country, isrc, max(title) AS title,
           sum(amount) AS amount, sum(quantity) AS quantity, count(*) AS rows
      FROM revenue_earnings WHERE upload_id = :upload_id
     GROUP BY currency, sale_month, store, country, isrc
    """
)
_ROLLUPS = text(
    """
    WITH changed AS (
        INSERT INTO revenue_rollups AS r (org_id, key_hash, rows)
        SELECT :org_id,
               hashtextextended(concat_ws(E'\\x1f', currency, sale_month, store, country, isrc), 0),
               :sign * sum(rows)
          FROM revenue_delta
         GROUP BY 2
        ON CONFLICT (org_id, key_hash) DO UPDATE SET rows = r.rows + excluded.rows
        RETURNING (xmax <> 0) AS existed
    )
    SELECT count(*) FILTER (WHERE existed) FROM changed
    """
)
_TOTALS = text(
    f"""
    INSERT INTO revenue_totals AS t
           (org_id, dimension, sale_month, currency, key, title, amount, quantity, rows)
    SELECT :org_id, d.dimension, m.month, currency, d.key, max(d.title),
           :sign * sum(amount), :sign * sum(quantity), :sign * sum(rows)
      FROM revenue_delta
     CROSS JOIN LATERAL (VALUES ('store', store, ''), ('country', country, ''),
                                ('track', isrc, title)) AS d(dimension, key, title)
     CROSS JOIN LATERAL (VALUES (sale_month), (DATE '{ALL_TIME.isoformat()}')) AS m(month)
     GROUP BY d.dimension, m.month, currency, d.key
    ON CONFLICT (org_id, dimension, sale_month, currency, key) DO UPDATE
       SET amount = t.amount + excluded.amount, quantity = t.quantity + excluded.quantity,
           rows = t.rows + excluded.rows,
           title = CASE WHEN excluded.rows > 0 THEN excluded.title ELSE t.title END
    """  # noqa: S608 - ALL_TIME is a constant date
)
_BALANCES = text(
    """
    WITH delta AS (
        SELECT currency, :sign * sum(amount) AS change FROM revenue_delta GROUP BY currency
    ), changed AS (
        INSERT INTO revenue_balances AS b (org_id, currency, earned, held)
        SELECT :org_id, currency, change, 0 FROM delta
        ON CONFLICT (org_id, currency) DO UPDATE SET earned = b.earned + excluded.earned
        RETURNING b.currency, b.earned, b.held
    )
    SELECT changed.currency, changed.earned, changed.held, delta.change
      FROM changed JOIN delta USING (currency)
    """
)


def apply_upload(
    session: Session, *, org_id: uuid.UUID, upload_id: uuid.UUID, sign: int
) -> tuple[int, list[tuple[str, Decimal, Decimal, Decimal]]]:
    """Add (sign 1) or take out (sign -1) an upload's rows in the rollups, the wallet's totals
    and the balances. Returns the rollup keys that already held earnings (on adding: possible
    double counting), and each currency's balance after: (currency, earned, held, change)."""
    params = {"org_id": org_id, "upload_id": upload_id, "sign": sign}
    session.execute(_DELTA, params)
    existed = int(session.execute(_ROLLUPS, params).scalar_one())
    session.execute(_TOTALS, params)
    balances = [tuple(row) for row in session.execute(_BALANCES, params)]
    session.execute(text("DROP TABLE revenue_delta"))
    if sign < 0:
        for table in ("revenue_rollups", "revenue_totals"):
            session.execute(
                text(f"DELETE FROM {table} WHERE org_id = :org_id AND rows = 0"),  # noqa: S608
                params,
            )
    return existed, balances  # type: ignore[return-value]


def finish_import(
    session: Session, upload: Upload, *, format_name: str, imported: int, rejected: int
) -> None:
    """Roll the upload's rows up into the artist's rollups and balance, and mark it imported.
    Keys that were already in the rollups came from another upload: possible double counting.
    """
    upload.overlapping_keys, _ = apply_upload(
        session, org_id=upload.org_id, upload_id=upload.id, sign=1
    )
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
