"""Uploads of distributor reports: recorded once per file per artist, listed, reverted.

The artist is the organisation: an upload of another organisation is a 404, exactly like one
that does not exist. A revert takes the upload's rows and everything derived from them (the
rollups, the balance) out in one transaction, and refuses when withdrawals already hold money
the upload brought in.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.core.errors import Conflict, NotFound
from models.core.pages import newest_first
from models.revenue.ledger import apply_upload
from models.revenue.tables import Earning, Rejection, Upload, UploadStatus


class DuplicateUpload(Conflict):
    """The artist already uploaded this very file."""

    code = "duplicate_upload"


class RevertRefused(Conflict):
    """The upload cannot be reverted in its state, or withdrawals hold its money."""

    code = "revert_refused"


def find_duplicate(*, session: Session, org_id: uuid.UUID, sha256: str) -> Upload | None:
    return session.scalar(
        select(Upload).where(
            Upload.org_id == org_id,
            Upload.sha256 == sha256,
            Upload.status.not_in((UploadStatus.REVERTED, UploadStatus.FAILED)),
        )
    )


def duplicate_error(earlier: Upload) -> DuplicateUpload:
    return DuplicateUpload(
        f"this file was already uploaded as {earlier.filename!r} on "
        f"{earlier.created_at:%Y-%m-%d %H:%M} UTC (upload {earlier.id})",
        details={"upload_id": str(earlier.id), "filename": earlier.filename},
    )


def record_upload(
    *,
    session: Session,
    upload_id: uuid.UUID,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    filename: str,
    storage_key: str,
    size_bytes: int,
    sha256: str,
) -> Upload:
    """The upload's row (flushed); DuplicateUpload naming the earlier one for the same file."""
    earlier = find_duplicate(session=session, org_id=org_id, sha256=sha256)
    if earlier is not None:
        raise duplicate_error(earlier)
    upload = Upload(
        id=upload_id,
        org_id=org_id,
        uploaded_by=user_id,
        filename=filename[:255],
        storage_key=storage_key,
        size_bytes=size_bytes,
        sha256=sha256,
        status=UploadStatus.QUEUED,
    )
    session.add(upload)
    try:
        with session.begin_nested():
            session.flush()
    except Exception as exc:  # a concurrent upload of the same file won the unique index
        earlier = find_duplicate(session=session, org_id=org_id, sha256=sha256)
        if earlier is None:
            raise
        raise duplicate_error(earlier) from exc
    return upload


def get_upload(*, session: Session, org_id: uuid.UUID, upload_id: uuid.UUID) -> Upload:
    upload = session.get(Upload, upload_id)
    if upload is None or upload.org_id != org_id:
        raise NotFound("upload not found", details={"upload_id": str(upload_id)})
    return upload


def list_uploads(
    *, session: Session, org_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Upload], str | None]:
    return newest_first(
        session=session,
        query=select(Upload).where(Upload.org_id == org_id),
        created_at=Upload.created_at,
        row_id=Upload.id,
        cursor=cursor,
        limit=limit,
    )


def rejections(
    *, session: Session, org_id: uuid.UUID, upload_id: uuid.UUID, after_row: int, limit: int
) -> list[Rejection]:
    """One page of the upload's rejected rows, by row number, after `after_row`."""
    get_upload(session=session, org_id=org_id, upload_id=upload_id)
    return list(
        session.scalars(
            select(Rejection)
            .where(Rejection.upload_id == upload_id, Rejection.row_number > after_row)
            .order_by(Rejection.row_number)
            .limit(limit)
        )
    )


def lock_upload(*, session: Session, upload_id: uuid.UUID) -> Upload | None:
    return session.scalar(
        select(Upload)
        .where(Upload.id == upload_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def revert_upload(
    *, session: Session, org_id: uuid.UUID, upload_id: uuid.UUID, actor_id: uuid.UUID
) -> Upload:
    """Take the upload's earnings out of the ledger, the rollups and the balance, at once."""
    get_upload(session=session, org_id=org_id, upload_id=upload_id)
    upload = lock_upload(session=session, upload_id=upload_id)
    assert upload is not None  # noqa: S101 - just read
    if upload.status != UploadStatus.IMPORTED:
        raise RevertRefused(
            f"only an imported upload can be reverted; this one is {upload.status.value}",
            details={"status": upload.status.value},
        )
    session.execute(
        text("SELECT 1 FROM revenue_balances WHERE org_id = :org_id FOR UPDATE"),
        {"org_id": org_id},
    )
    _, balances = apply_upload(session, org_id=org_id, upload_id=upload_id, sign=-1)
    for currency, earned, held, change in balances:
        if change < 0 and earned < held:  # it took out money that withdrawals hold
            raise RevertRefused(
                f"withdrawals hold {held:f} {currency}; without this upload only {earned:f} "
                f"{currency} would have been earned",
                details={"currency": currency},
            )
    session.execute(delete(Earning).where(Earning.upload_id == upload_id))
    upload.status = UploadStatus.REVERTED
    upload.reverted_at = utcnow()
    upload.reverted_by = actor_id
    session.flush()
    return upload
