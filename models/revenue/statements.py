"""Statements: an artist's earnings over whole past months as CSV, one line per currency,
month, store, country and track, written by a job and streamed from the database to storage.

The same period over the same ledger gives the same bytes: lines in one stable order (byte
order, whatever the database's locale), amounts exactly as the ledger holds them (12 decimal
places), and nothing about when or by whom the file was made inside it. A statement is a
snapshot: an import or a revert changes the next statement of the period, not this one.

Rows are read through the artist's imported uploads and each upload's primary key
(revenue_earnings is keyed by upload), so the bulk-loaded earnings table needs no index of its
own for statements.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Iterator
from datetime import date

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.core.errors import Conflict, InvalidInput, NotFound
from models.core.pages import newest_first
from models.revenue.tables import Statement, StatementStatus

COLUMNS = ("currency", "month", "store", "country", "isrc", "title", "quantity", "amount", "lines")
# Rows fetched from the server-side cursor, and written out, at a time.
BATCH_ROWS = 2000

_LINES = text(
    """
    SELECT e.currency, e.sale_month, e.store, e.country, e.isrc,
           max(e.title COLLATE "C") AS title, sum(e.quantity), sum(e.amount), count(*)
      FROM revenue_uploads u
      JOIN revenue_earnings e ON e.upload_id = u.id
     WHERE u.org_id = :org_id AND u.status = 'imported'
       AND e.sale_month BETWEEN :first_month AND :last_month
     GROUP BY e.currency, e.sale_month, e.store, e.country, e.isrc
     ORDER BY e.currency COLLATE "C", e.sale_month, e.store COLLATE "C",
              e.country COLLATE "C", e.isrc COLLATE "C"
    """
).execution_options(yield_per=BATCH_ROWS)


class StatementNotReady(Conflict):
    """The statement's job has not written the file (yet, or it failed)."""

    code = "statement_not_ready"


def month_of(value: str, field: str) -> date:
    """`YYYY-MM` as the first day of that month (InvalidInput naming `field` otherwise)."""
    try:
        year, month = value.split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError(value)
        return date(int(year), int(month), 1)
    except ValueError:
        raise InvalidInput(
            f"not a month: {value!r}; write it YYYY-MM",
            details={"fields": {field: ["not a month"]}},
        ) from None


def check_period(first_month: date, last_month: date, *, today: date | None = None) -> None:
    """A period of whole months, in order, all of them over: InvalidInput otherwise."""
    this_month = (today or utcnow().date()).replace(day=1)
    if first_month > last_month:
        raise InvalidInput(
            f"the period starts ({first_month:%Y-%m}) after it ends ({last_month:%Y-%m})",
            details={"fields": {"from": ["after `to`"]}},
        )
    if last_month >= this_month:
        raise InvalidInput(
            f"a statement covers months that are over; {last_month:%Y-%m} is not "
            f"(the last one is {_previous(this_month):%Y-%m})",
            details={"fields": {"to": [f"on or after {this_month:%Y-%m}"]}},
        )
    if first_month.year < 1970:
        raise InvalidInput(
            "a statement starts in 1970 or later", details={"fields": {"from": ["before 1970"]}}
        )


def _previous(month: date) -> date:
    return date(month.year - 1, 12, 1) if month.month == 1 else month.replace(month=month.month - 1)


def create_statement(
    *,
    session: Session,
    statement_id: uuid.UUID,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    first_month: date,
    last_month: date,
) -> Statement:
    """The statement's row (queued, flushed), once the period is checked."""
    check_period(first_month, last_month)
    statement = Statement(
        id=statement_id,
        org_id=org_id,
        requested_by=user_id,
        first_month=first_month,
        last_month=last_month,
        status=StatementStatus.QUEUED,
        storage_key=f"revenue/{org_id}/statements/{statement_id}.csv",
    )
    session.add(statement)
    session.flush()
    return statement


def get_statement(*, session: Session, org_id: uuid.UUID, statement_id: uuid.UUID) -> Statement:
    statement = session.get(Statement, statement_id)
    if statement is None or statement.org_id != org_id:
        raise NotFound("statement not found", details={"statement_id": str(statement_id)})
    return statement


def ready_statement(*, session: Session, org_id: uuid.UUID, statement_id: uuid.UUID) -> Statement:
    """The statement, if its file is written; StatementNotReady otherwise."""
    statement = get_statement(session=session, org_id=org_id, statement_id=statement_id)
    if statement.status is not StatementStatus.READY:
        raise StatementNotReady(
            f"the statement is {statement.status.value}; follow its job",
            details={"status": statement.status.value, "job_id": str(statement.job_id)},
        )
    return statement


def list_statements(
    *, session: Session, org_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Statement], str | None]:
    return newest_first(
        session=session,
        query=select(Statement).where(Statement.org_id == org_id),
        created_at=Statement.created_at,
        row_id=Statement.id,
        cursor=cursor,
        limit=limit,
    )


def lock_statement(*, session: Session, statement_id: uuid.UUID) -> Statement | None:
    return session.scalar(
        select(Statement)
        .where(Statement.id == statement_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def statement_rows(session: Session, statement: Statement) -> Iterator[tuple]:
    """The statement's lines, in order, fetched from a server-side cursor a batch at a time."""
    result = session.execute(
        _LINES,
        {
            "org_id": statement.org_id,
            "first_month": statement.first_month,
            "last_month": statement.last_month,
        },
    )
    for currency, month, store, country, isrc, title, quantity, amount, lines in result:
        yield (
            currency,
            month.strftime("%Y-%m"),
            store,
            country,
            isrc,
            title,
            int(quantity),
            format(amount, "f"),
            int(lines),
        )


def csv_chunks(rows: Iterable[tuple], *, every: int = BATCH_ROWS) -> Iterator[bytes]:
    """The CSV (UTF-8, a header line, `\\n` line ends) in chunks of `every` lines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    pending = 0
    for row in rows:
        writer.writerow(row)
        pending += 1
        if pending == every:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode()


def finish_statement(
    session: Session, statement: Statement, *, lines: int, size_bytes: int, sha256: str
) -> None:
    statement.status = StatementStatus.READY
    statement.lines = lines
    statement.size_bytes = size_bytes
    statement.sha256 = sha256
    statement.error = None
    statement.finished_at = utcnow()
    session.flush()


def fail_statement(session: Session, statement: Statement, error: str) -> None:
    statement.status = StatementStatus.FAILED
    statement.error = error[:4000]
    statement.finished_at = utcnow()
    session.flush()
