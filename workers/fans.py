"""The fans domain's job kinds: `fans.import` loads an uploaded CSV of fans (every row or
none), `fans.export` writes the organisation's fans to a CSV in storage, `fans.check_file`
checks a release's artwork or audio. Stripe's signed events make a fan paid (a checkout of
theirs completed) or free again (its subscription deleted).

Both act on the organisation the job was submitted in (ctx.org_id), whatever ids the params
name: an import id of another organisation is not found.
"""

from __future__ import annotations

import csv
import io
import logging
import shutil
import tempfile
import uuid
from typing import Any

from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from config import Settings
from models.core.errors import BacklineError
from models.fans import checkouts, imports, release_files
from models.fans.exports import EXPORT_COLUMNS, export_rows
from models.fans.imports import ImportStatus, RowErrors
from models.fans.media import check_artwork, check_audio
from models.fans.release_files import FileKind
from workers.core.context import JobContext
from workers.core.errors import PermanentError
from workers.core.registry import job_kind
from workers.core.storage import CHUNK_BYTES, storage
from workers.core.webhooks import ReceivedEvent, webhook_handler

log = logging.getLogger("backline.fans")


class ImportParams(Schema):
    import_id = fields.UUID(required=True)


class ExportParams(Schema):
    pass


def _org(ctx: JobContext) -> uuid.UUID:
    if ctx.org_id is None:
        raise PermanentError("fan jobs run for an organisation")
    return ctx.org_id


@job_kind(
    "fans.import",
    params=ImportParams,
    queue="fans",
    max_attempts=3,
    time_limit_ms=30 * 60 * 1000,
)
def import_fans(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Import an uploaded CSV of fans: every row or none."""
    org_id, import_id = _org(ctx), uuid.UUID(str(params["import_id"]))
    with ctx.sessions.begin() as session:
        upload = imports.get_import(session=session, org_id=org_id, import_id=import_id)
        key, mapping, status = upload.storage_key, upload.mapping or {}, upload.status
        previous = upload.result
    if status == ImportStatus.IMPORTED:
        return previous or {}  # a redelivered message: the import is done
    ctx.progress(0, None, "reading")
    try:
        with storage(ctx.settings).open(key) as source:
            fans, repeated = imports.read_rows(
                source, mapping, lambda n: ctx.progress(n, None, f"{n} rows read")
            )
        ctx.progress(len(fans), len(fans), "loading")
        with ctx.sessions.begin() as session:
            added = imports.load_fans(session=session, org_id=org_id, rows=fans)
            result = {
                "imported": added,
                "already_on_list": len(fans) - added,
                "repeated_in_file": repeated,
            }
            imports.remember_result(
                session=session,
                org_id=org_id,
                import_id=import_id,
                status=ImportStatus.IMPORTED,
                result=result,
            )
    except BacklineError as error:
        failure = {"message": error.message, **error.details}
        with ctx.sessions.begin() as session:
            imports.remember_result(
                session=session,
                org_id=org_id,
                import_id=import_id,
                status=ImportStatus.FAILED,
                result=failure,
            )
        if isinstance(error, RowErrors):
            raise PermanentError(
                f"{error.message}: see GET /api/v1/fans/imports/{import_id}"
            ) from None
        raise PermanentError(error.message) from None
    return result


@job_kind(
    "fans.export",
    params=ExportParams,
    queue="fans",
    max_attempts=3,
    time_limit_ms=30 * 60 * 1000,
)
def export_fans(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Export the organisation's fans to a CSV file."""
    org_id = _org(ctx)
    key = export_key(org_id, uuid.UUID(ctx.job_id))
    count = 0
    with tempfile.TemporaryFile() as spool:
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(EXPORT_COLUMNS)
        with ctx.sessions.begin() as session:
            for row in export_rows(session=session, org_id=org_id):
                writer.writerow(row)
                count += 1
                if count % 5000 == 0:
                    ctx.progress(count, None, f"{count} fans written")
        text.flush()
        spool.seek(0)
        stored = storage(ctx.settings).put(key, spool)  # type: ignore[arg-type]
        text.detach()
    return {"fans": count, "size_bytes": stored.size, "sha256": stored.sha256}


def export_key(org_id: uuid.UUID, job_id: uuid.UUID) -> str:
    return f"fans/{org_id}/exports/{job_id}.csv"


class CheckFileParams(Schema):
    file_id = fields.UUID(required=True)


@job_kind(
    "fans.check_file",
    params=CheckFileParams,
    queue="fans",
    max_attempts=3,
    time_limit_ms=5 * 60 * 1000,
)
def check_file(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Check a release's artwork or audio file (format, size, duration)."""
    org_id, file_id = _org(ctx), uuid.UUID(str(params["file_id"]))
    with ctx.sessions.begin() as session:
        found = release_files.get_file(session=session, org_id=org_id, file_id=file_id)
        key, kind = found.storage_key, found.kind
    ctx.progress(0, 1, "checking")
    # A local copy: both readers seek, and an object store's stream does not.
    with tempfile.TemporaryFile() as copy, storage(ctx.settings).open(key) as source:
        shutil.copyfileobj(source, copy, CHUNK_BYTES)
        copy.seek(0)
        checker = check_artwork if kind == FileKind.ARTWORK else check_audio
        problem, details = checker(copy)
    with ctx.sessions.begin() as session:
        release_files.record_check(
            session=session, org_id=org_id, file_id=file_id, problem=problem, details=details
        )
    return {"passed": problem is None, "problem": problem, **details}


@webhook_handler("stripe", "checkout.session.completed")
def fan_checkout_completed(session: Session, event: ReceivedEvent, settings: Settings) -> None:
    """A fan's checkout was paid: the fan is a paid subscriber."""
    try:
        checkouts.checkout_completed(session=session, event=event.json())
    except checkouts.IgnoredEvent as why:
        log.debug("stripe event not a fan's", extra={"event": event.message_id, "why": str(why)})


@webhook_handler("stripe", "customer.subscription.deleted")
def fan_subscription_ended(session: Session, event: ReceivedEvent, settings: Settings) -> None:
    """A fan's subscription ended: the fan is free again."""
    try:
        checkouts.subscription_ended(session=session, event=event.json())
    except checkouts.IgnoredEvent as why:
        log.debug("stripe event not a fan's", extra={"event": event.message_id, "why": str(why)})
