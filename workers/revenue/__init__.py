"""The revenue domain's job kinds. `revenue.import`: one uploaded distributor report, read as
it streams from storage and loaded into the ledger by COPY, in one transaction (and
`revenue.statement`, a CSV statement of a period: workers/revenue/statements.py).

The transaction holds the upload's row lock from start to end, so a second delivery of the
same message waits, then finds the upload imported and does nothing; a failed, cancelled or
interrupted attempt leaves no row behind and the next one starts from the top (no double
rows). A file that is not a report at all (an unknown header, an empty file) fails the job at
once and marks the upload failed with the reason.
"""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import Schema, fields

from models.revenue.ledger import (
    MAX_KEPT_REJECTIONS,
    add_rejections,
    earnings_writer,
    fail_import,
    finish_import,
)
from models.revenue.tables import Upload, UploadStatus
from models.revenue.uploads import lock_upload
from workers.core.context import JobContext
from workers.core.errors import JobCancelled, PermanentError
from workers.core.registry import job_kind
from workers.core.storage import storage
from workers.revenue import statements  # noqa: F401 - registers revenue.statement
from workers.revenue.parsing import Rejected, read_rows


class ImportParams(Schema):
    upload_id = fields.UUID(required=True)


def summary(upload: Upload) -> dict[str, Any]:
    return {
        "upload_id": str(upload.id),
        "status": upload.status.value,
        "format": upload.format,
        "rows_imported": upload.rows_imported,
        "rows_rejected": upload.rows_rejected,
        "overlapping_keys": upload.overlapping_keys,
    }


@job_kind(
    "revenue.import",
    params=ImportParams,
    queue="revenue",
    # Submitted by POST /api/v1/revenue/uploads only, never directly by clients.
    admin_only=True,
    max_attempts=3,
    time_limit_ms=60 * 60 * 1000,
    min_backoff_ms=5000,
)
def import_report(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Import an uploaded distributor report into the artist's ledger."""
    upload_id = uuid.UUID(str(params["upload_id"]))
    try:
        with ctx.sessions.begin() as session:
            return _import(ctx, session, upload_id)
    except UnicodeDecodeError as exc:
        _fail(ctx, upload_id, f"the file is not text in any encoding Backline reads: {exc}")
        raise PermanentError("undecodable file") from exc
    except PermanentError as exc:
        _fail(ctx, upload_id, str(exc))
        raise
    except JobCancelled:
        _fail(ctx, upload_id, "the import was cancelled; nothing of it was kept")
        raise


def _fail(ctx: JobContext, upload_id: uuid.UUID, reason: str) -> None:
    with ctx.sessions.begin() as session:
        upload = lock_upload(session=session, upload_id=upload_id)
        if upload is not None and upload.status is UploadStatus.QUEUED:
            fail_import(session, upload, reason)


def _import(ctx: JobContext, session: Any, upload_id: uuid.UUID) -> dict[str, Any]:
    upload = lock_upload(session=session, upload_id=upload_id)
    if upload is None or str(upload.job_id) != ctx.job_id:
        raise PermanentError(f"upload {upload_id} is not this job's")
    if upload.status is not UploadStatus.QUEUED:
        return summary(upload)  # done by an earlier delivery
    every = ctx.settings.revenue_import_batch_rows
    imported = 0
    rejected: list[tuple[int, str]] = []
    rejected_count = 0
    with storage(ctx.settings).open(upload.storage_key) as raw:
        found, rows = read_rows(raw)
        with earnings_writer(session) as write:
            for row in rows:
                if isinstance(row, Rejected):
                    rejected_count += 1
                    if len(rejected) < MAX_KEPT_REJECTIONS:
                        rejected.append((row.row_number, row.reason))
                else:
                    imported += 1
                    write(
                        (upload.id, row.row_number, upload.org_id, row.sale_month, row.store,
                         row.country, row.isrc, row.upc, row.artist, row.title, row.quantity,
                         row.amount, row.currency)
                    )  # fmt: skip
                if (imported + rejected_count) % every == 0:
                    ctx.progress(imported + rejected_count, None, f"{imported} rows imported")
    add_rejections(session, upload.id, rejected)
    finish_import(
        session, upload, format_name=found.name, imported=imported, rejected=rejected_count
    )
    done = imported + rejected_count
    ctx.progress(done, done, f"{imported} rows imported")
    return summary(upload)
