"""/api/v1/fans/imports and /exports: CSV in (upload, mapping with a preview, then a job that
loads every row or none) and CSV out (a job, then the file, to the organisation only)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from flask import Response, g, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from models.core.errors import NotFound
from models.core.jobs import Job, JobSnapshot, JobStatus
from models.fans import imports
from models.fans.imports import FanImport
from web.core.auth import BEARER, auth_required, current_org_id, current_viewer
from web.core.context import db, platform
from web.core.job_schemas import JobRead
from web.core.uploads import accepts_upload, uploaded_file
from web.fans.schemas import ImportRead, ImportStart
from workers.core import enqueue, registry
from workers.core.storage import CHUNK_BYTES, storage
from workers.fans import export_key

blp = Blueprint(
    "fan_imports", __name__, url_prefix="/api/v1/fans", description="Fan imports and exports."
)


def submit_job(kind: str, params: dict[str, Any]) -> JobSnapshot:
    """Submit one of the domain's job kinds for the caller, sent once the caller commits."""
    job, _ = enqueue.submit(
        session=db(),
        dispatcher=platform().dispatcher,
        owner_id=current_viewer().user_id,
        org_id=current_org_id(),
        kind=registry.kind_for(kind, current_viewer()),
        params=params,
        request_id=g.get("request_id"),
    )
    return job


@blp.route("/imports", methods=["POST"])
@blp.response(201, ImportRead)
@blp.alt_response(413, description="The file is larger than FANS_MAX_IMPORT_BYTES.")
@blp.alt_response(422, description="Not a CSV with a header row, or not UTF-8.")
@blp.doc(security=BEARER)
@accepts_upload(lambda settings: settings.fans_max_import_bytes)
@auth_required
def upload_import() -> FanImport:
    """Upload a CSV of fans (multipart, part "file"): its columns, first rows, a mapping"""
    org_id, import_id = current_org_id(), uuid.uuid4()
    upload = uploaded_file()
    store = storage(platform().settings)
    key = f"fans/{org_id}/imports/{import_id}.csv"
    cap = platform().settings.fans_max_import_bytes
    stored = store.put(key, cast(BinaryIO, upload.stream), max_bytes=cap)
    try:
        with store.open(key) as f:
            columns, preview = imports.header_and_preview(f)
        found = imports.record_upload(
            session=db(),
            org_id=org_id,
            user_id=current_viewer().user_id,
            import_id=import_id,
            storage_key=key,
            filename=upload.filename,
            size_bytes=stored.size,
            columns=columns,
            preview=preview,
        )
        db().commit()
    except BaseException:
        store.delete(key)  # a file nobody can import is not kept
        raise
    return found


@blp.route("/imports/<uuid:import_id>")
class ImportItem(MethodView):
    @blp.response(200, ImportRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, import_id: uuid.UUID) -> FanImport:
        """An import: its columns, preview, mapping, status and outcome (row errors included)"""
        return imports.get_import(session=db(), org_id=current_org_id(), import_id=import_id)


@blp.route("/imports/<uuid:import_id>/start")
class StartImport(MethodView):
    @blp.arguments(ImportStart)
    @blp.response(202, JobRead)
    @blp.alt_response(409, description="The import was started already.")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any], import_id: uuid.UUID) -> JobSnapshot:
        """Start importing with a mapping (fan field → column); follow the job"""
        upload = imports.set_mapping(
            session=db(), org_id=current_org_id(), import_id=import_id, mapping=body["mapping"]
        )
        job = submit_job("fans.import", {"import_id": str(import_id)})
        upload.job_id = job.id
        db().commit()
        return job


@blp.route("/exports")
class Exports(MethodView):
    @blp.response(202, JobRead)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self) -> JobSnapshot:
        """Export every fan to CSV; once the job succeeded, GET /fans/exports/<job id>"""
        job = submit_job("fans.export", {})
        db().commit()
        return job


@blp.route("/exports/<uuid:job_id>")
class ExportFile(MethodView):
    @blp.response(200, description="The CSV file.", content_type="text/csv")
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, job_id: uuid.UUID) -> Response:
        """Download an export's CSV (the organisation's own exports only)"""
        org_id = current_org_id()
        job = db().get(Job, job_id)
        if job is None or job.org_id != org_id or job.kind != "fans.export":
            raise NotFound("no fan export with this id", details={"job_id": str(job_id)})
        if job.status != JobStatus.SUCCEEDED:
            raise NotFound(
                f"the export is not ready (it is {job.status.value})",
                details={"job_id": str(job_id), "status": job.status.value},
            )
        store = storage(platform().settings)
        key = export_key(org_id, job_id)
        if not store.exists(key):
            raise NotFound("the export's file is gone", details={"job_id": str(job_id)})

        def chunks() -> Iterator[bytes]:
            with store.open(key) as f:
                while chunk := f.read(CHUNK_BYTES):
                    yield chunk

        return Response(
            stream_with_context(chunks()),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="fans-{job_id}.csv"'},
        )
