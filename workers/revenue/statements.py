"""`revenue.statement`: one statement's CSV, streamed from a server-side cursor straight into
storage (memory holds one batch of lines, whatever the period), then the statement marked
ready with its size and SHA-256, in the transaction that holds the statement's row lock.

A second delivery finds the statement ready and does nothing; an interrupted attempt leaves
the row queued and the next one writes the whole file again under the same key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, cast

from marshmallow import Schema, fields

from models.revenue.statements import (
    csv_chunks,
    fail_statement,
    finish_statement,
    lock_statement,
    statement_rows,
)
from models.revenue.tables import Statement, StatementStatus
from workers.core.context import JobContext
from workers.core.errors import JobCancelled, PermanentError
from workers.core.registry import job_kind
from workers.core.storage import storage


class StatementParams(Schema):
    statement_id = fields.UUID(required=True)


class ChunkReader:
    """A file-like `read(n)` over an iterator of byte chunks (what storage's `put` reads)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buffer) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        size = len(self._buffer) if n < 0 else min(n, len(self._buffer))
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


def summary(statement: Statement) -> dict[str, Any]:
    return {
        "statement_id": str(statement.id),
        "status": statement.status.value,
        "lines": statement.lines,
        "size_bytes": statement.size_bytes,
        "sha256": statement.sha256,
    }


@job_kind(
    "revenue.statement",
    params=StatementParams,
    queue="revenue",
    # Submitted by POST /api/v1/revenue/statements only, never directly by clients.
    admin_only=True,
    max_attempts=3,
    time_limit_ms=30 * 60 * 1000,
    min_backoff_ms=5000,
)
def write_statement(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Write an artist's CSV statement of earnings for a period to storage."""
    statement_id = uuid.UUID(str(params["statement_id"]))
    try:
        with ctx.sessions.begin() as session:
            statement = lock_statement(session=session, statement_id=statement_id)
            if statement is None or str(statement.job_id) != ctx.job_id:
                raise PermanentError(f"statement {statement_id} is not this job's")
            if statement.status is StatementStatus.QUEUED:
                _write(ctx, session, statement)
            return summary(statement)
    except PermanentError as exc:
        _fail(ctx, statement_id, str(exc))
        raise
    except JobCancelled:
        _fail(ctx, statement_id, "the statement was cancelled; no file was kept")
        raise


def _fail(ctx: JobContext, statement_id: uuid.UUID, reason: str) -> None:
    with ctx.sessions.begin() as session:
        statement = lock_statement(session=session, statement_id=statement_id)
        if statement is not None and statement.status is StatementStatus.QUEUED:
            fail_statement(session, statement, reason)


def _write(ctx: JobContext, session: Any, statement: Statement) -> None:
    lines = 0

    def counted(rows: Iterator[tuple]) -> Iterator[tuple]:
        nonlocal lines
        for row in rows:
            lines += 1
            if lines % 10_000 == 0:
                ctx.progress(lines, None, f"{lines} lines written")
            yield row

    source = ChunkReader(csv_chunks(counted(statement_rows(session, statement))))
    stored = storage(ctx.settings).put(statement.storage_key, cast("BinaryIO", source))
    finish_statement(session, statement, lines=lines, size_bytes=stored.size, sha256=stored.sha256)
    ctx.progress(lines, lines, f"{lines} lines written")
