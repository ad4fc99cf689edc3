"""/api/v1/revenue/uploads: distributor reports in, imported by a `revenue.import` job.

A report streams to storage (never whole in memory) under REVENUE_MAX_UPLOAD_BYTES; the answer
is 202 with the upload and its job. The same file again for the same artist is a 409 naming
the earlier upload. Uploads list with their state and counts, their rejected rows page by
page, and can be reverted.
"""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath
from typing import Any, BinaryIO, cast

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from models.core.errors import InvalidInput, LimitReached
from models.core.ids import uuid7
from models.revenue import Upload, UploadStatus
from models.revenue import uploads as uploads_domain
from models.revenue.tables import Rejection
from web.core import limits
from web.core.auth import BEARER, auth_required, current_viewer
from web.core.context import db, platform
from web.core.fields import BigInt, Text
from web.core.job_schemas import JobRead
from web.core.uploads import accepts_upload, uploaded_file
from web.revenue.common import artist_org, require_manager
from workers.core import enqueue
from workers.core.registry import get_kind
from workers.core.storage import storage

blp = Blueprint(
    "revenue_uploads",
    __name__,
    url_prefix="/api/v1/revenue",
    description="Distributor earnings reports, imported into the artist's ledger.",
)
SUFFIXES = (".csv", ".tsv", ".txt", ".gz", ".zip")


# -- schemas ---------------------------------------------------------------------------------
class UploadRead(Schema):
    id = fields.UUID(required=True)
    org_id = fields.UUID(required=True, metadata={"description": "The artist."})
    uploaded_by = fields.UUID(allow_none=True)
    filename = Text(required=True)
    size_bytes = BigInt(required=True)
    sha256 = Text(required=True)
    status = fields.Enum(UploadStatus, by_value=True, required=True)
    format = Text(allow_none=True)
    job_id = fields.UUID(allow_none=True)
    rows_imported = BigInt(required=True)
    rows_rejected = BigInt(required=True)
    overlapping_keys = BigInt(
        required=True,
        metadata={
            "description": "Store, month, ISRC and country combinations another upload already "
            "covered: possible double counting (the same report under another name)."
        },
    )
    error = Text(allow_none=True)
    created_at = fields.DateTime(required=True)
    imported_at = fields.DateTime(allow_none=True)
    reverted_at = fields.DateTime(allow_none=True)
    reverted_by = fields.UUID(allow_none=True)


class UploadAccepted(Schema):
    upload = fields.Nested(UploadRead, required=True)
    job = fields.Nested(JobRead, required=True)


class ArtistQuery(Schema):
    org_id = fields.UUID(
        metadata={"description": "Platform admins: the artist (organization) to act for."}
    )


class UploadQuery(ArtistQuery):
    cursor = Text()
    limit = BigInt(load_default=20, validate=validate.Range(min=1, max=100))


class UploadPage(Schema):
    items = fields.List(fields.Nested(UploadRead), required=True)
    next_cursor = Text(allow_none=True)


class RejectionQuery(ArtistQuery):
    after = BigInt(load_default=0, metadata={"description": "Row number to continue after."})
    limit = BigInt(load_default=100, validate=validate.Range(min=1, max=1000))


class RejectionRead(Schema):
    row_number = BigInt(required=True)
    reason = Text(required=True)


class RejectionPage(Schema):
    items = fields.List(fields.Nested(RejectionRead), required=True)
    next_after = BigInt(allow_none=True)


# -- views -----------------------------------------------------------------------------------
def _suffix_of(filename: str) -> str:
    name = PurePosixPath(filename.replace("\\", "/")).name.lower()
    if not name.endswith(SUFFIXES):
        raise InvalidInput(
            f"send a report as {', '.join(SUFFIXES)}",
            details={"fields": {"file": [f"not one of {', '.join(SUFFIXES)}"]}},
        )
    return name


@blp.route("/uploads", methods=["POST"])
@blp.arguments(ArtistQuery, location="query")
@blp.response(202, UploadAccepted)
@blp.alt_response(409, description="The artist uploaded this very file already.")
@blp.alt_response(413, description="Past REVENUE_MAX_UPLOAD_BYTES.")
@blp.doc(security=BEARER)
@accepts_upload(lambda settings: settings.revenue_max_upload_bytes)
@auth_required
def post_upload(query: dict[str, Any]) -> dict[str, Any]:
    """Upload a distributor report (multipart, part `file`); answers 202 with its import job"""
    settings = platform().settings
    org_id = artist_org(query.get("org_id"))
    report = uploaded_file()
    _suffix_of(report.filename)
    if not limits.allows("rate_limit_revenue_upload", str(org_id)):
        raise LimitReached("too many uploads for this artist; try again later", retry_after_s=60)
    upload_id = uuid7()
    store = storage(settings)
    stored = store.put(
        f"revenue/{org_id}/{upload_id}",
        cast("BinaryIO", report.stream),
        max_bytes=settings.revenue_max_upload_bytes,
    )
    try:
        upload = uploads_domain.record_upload(
            session=db(),
            upload_id=upload_id,
            org_id=org_id,
            user_id=current_viewer().user_id,
            filename=report.filename,
            storage_key=stored.key,
            size_bytes=stored.size,
            sha256=stored.sha256,
        )
        kind = get_kind("revenue.import")
        assert kind is not None  # noqa: S101 - declared in workers/revenue
        job, _ = enqueue.submit(
            session=db(),
            dispatcher=platform().dispatcher,
            owner_id=current_viewer().user_id,
            org_id=org_id,
            kind=kind,
            params={"upload_id": str(upload_id)},
            request_id=g.get("request_id"),
        )
        upload.job_id = job.id
        db().commit()
    except BaseException:
        db().rollback()
        store.delete(stored.key)
        raise
    return {"upload": upload, "job": job}


@blp.route("/uploads", methods=["GET"])
@blp.arguments(UploadQuery, location="query")
@blp.response(200, UploadPage)
@blp.doc(security=BEARER)
@auth_required
def list_uploads(query: dict[str, Any]) -> dict[str, Any]:
    """The artist's uploads, newest first, with their state and row counts"""
    items, next_cursor = uploads_domain.list_uploads(
        session=db(),
        org_id=artist_org(query.get("org_id")),
        cursor=query.get("cursor"),
        limit=query["limit"],
    )
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/uploads/<uuid:upload_id>")
class UploadItem(MethodView):
    @blp.arguments(ArtistQuery, location="query")
    @blp.response(200, UploadRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any], upload_id: uuid.UUID) -> Upload:
        """One upload: its state, format and counts"""
        return uploads_domain.get_upload(
            session=db(), org_id=artist_org(query.get("org_id")), upload_id=upload_id
        )


@blp.route("/uploads/<uuid:upload_id>/rejections")
class UploadRejections(MethodView):
    @blp.arguments(RejectionQuery, location="query")
    @blp.response(200, RejectionPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any], upload_id: uuid.UUID) -> dict[str, Any]:
        """The upload's rejected rows (row number and reason), by row number"""
        items: list[Rejection] = uploads_domain.rejections(
            session=db(),
            org_id=artist_org(query.get("org_id")),
            upload_id=upload_id,
            after_row=query["after"],
            limit=query["limit"],
        )
        full = len(items) == query["limit"]
        return {"items": items, "next_after": items[-1].row_number if full else None}


@blp.route("/uploads/<uuid:upload_id>/revert")
class UploadRevert(MethodView):
    @blp.arguments(ArtistQuery, location="query")
    @blp.response(200, UploadRead)
    @blp.alt_response(403, description="Members who are not owners or admins.")
    @blp.alt_response(409, description="Not imported, or withdrawals hold its money.")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, query: dict[str, Any], upload_id: uuid.UUID) -> Upload:
        """Revert an import (owners and admins): its rows and every figure made from them leave"""
        require_manager()
        upload = uploads_domain.revert_upload(
            session=db(),
            org_id=artist_org(query.get("org_id")),
            upload_id=upload_id,
            actor_id=current_viewer().user_id,
        )
        db().commit()
        return upload
