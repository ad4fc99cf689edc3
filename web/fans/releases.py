"""/api/v1/releases: the artist's releases, their files, and submission for review; the
platform admins' review queue under /api/v1/admin/releases.

Files go in streamed under their own caps and are checked by a `fans.check_file` job (the
upload answers 202 with it). They come out only through short-lived signed URLs handed to
the release's organisation and to platform admins: a key in storage is never a URL.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO, cast

import jwt
from flask import Response, stream_with_context, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from models.accounts import User
from models.core.errors import NotFound
from models.core.jobs import JobSnapshot
from models.fans import release_files, releases
from models.fans.release_files import FileKind, ReleaseFile
from models.fans.releases import Release, ReleaseStatus
from web.accounts import send_mail
from web.core.auth import (
    BEARER,
    admin_required,
    auth_required,
    current_org_id,
    current_viewer,
)
from web.core.context import db, platform
from web.core.job_schemas import JobRead
from web.core.uploads import accepts_upload, uploaded_file
from web.fans.imports import submit_job
from web.fans.release_schemas import (
    FileUrl,
    Rejection,
    ReleaseDetail,
    ReleasePage,
    ReleaseQuery,
    ReleaseRead,
    ReleaseUpdate,
    ReleaseWrite,
    ReviewQueue,
)
from workers.core.storage import CHUNK_BYTES, storage

blp = Blueprint("releases", __name__, url_prefix="/api/v1", description="Music releases.")
FILE_AUDIENCE = "backline:release-file"


class _Detail:
    """A release with its files, for ReleaseDetail."""

    def __init__(self, release: Release) -> None:
        self._release = release
        self.files = release_files.files_of(session=db(), release_id=release.id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._release, name)


def _mine(release_id: uuid.UUID) -> Release:
    return releases.get_release(session=db(), org_id=current_org_id(), release_id=release_id)


# -- the artist's releases -------------------------------------------------------------------
@blp.route("/releases")
class Releases(MethodView):
    @blp.arguments(ReleaseQuery, location="query")
    @blp.response(200, ReleasePage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List the artist's releases, newest first"""
        items, cursor = releases.list_releases(
            session=db(),
            org_id=current_org_id(),
            status=query.get("status"),
            cursor=query.get("cursor"),
            limit=query["limit"],
        )
        return {"items": items, "next_cursor": cursor}

    @blp.arguments(ReleaseWrite)
    @blp.response(201, ReleaseDetail)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> _Detail:
        """Start a release as a draft (Single: 1 track, EP: 2 to 6, Album: 7 to 30)"""
        release = releases.create_release(
            session=db(), org_id=current_org_id(), user_id=current_viewer().user_id, values=body
        )
        db().commit()
        return _Detail(release)


@blp.route("/releases/<uuid:release_id>")
class ReleaseItem(MethodView):
    @blp.response(200, ReleaseDetail)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, release_id: uuid.UUID) -> _Detail:
        """A release with its tracks, files and history"""
        return _Detail(_mine(release_id))

    @blp.arguments(ReleaseUpdate(partial=True))
    @blp.response(200, ReleaseDetail)
    @blp.alt_response(409, description="Only a draft can be edited.")
    @blp.doc(security=BEARER)
    @auth_required
    def patch(self, body: dict[str, Any], release_id: uuid.UUID) -> _Detail:
        """Edit a draft; `tracks` replaces the track list"""
        release = releases.update_release(
            session=db(), org_id=current_org_id(), release_id=release_id, values=body
        )
        db().commit()
        return _Detail(release)


@blp.route("/releases/<uuid:release_id>/submit")
class SubmitRelease(MethodView):
    @blp.response(200, ReleaseDetail)
    @blp.alt_response(422, description="Track count or files not ready (details.fields).")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, release_id: uuid.UUID) -> _Detail:
        """Submit a draft for review"""
        release = releases.submit_release(
            session=db(),
            org_id=current_org_id(),
            release_id=release_id,
            user_id=current_viewer().user_id,
            files_passed=release_files.file_problems(db()),
        )
        db().commit()
        return _Detail(release)


@blp.route("/releases/<uuid:release_id>/reopen")
class ReopenRelease(MethodView):
    @blp.response(200, ReleaseDetail)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, release_id: uuid.UUID) -> _Detail:
        """Take a rejected release back to draft, to fix and submit again"""
        release = releases.reopen_release(
            session=db(),
            org_id=current_org_id(),
            release_id=release_id,
            user_id=current_viewer().user_id,
        )
        db().commit()
        return _Detail(release)


# -- files -----------------------------------------------------------------------------------
def _take_file(release_id: uuid.UUID, kind: FileKind, position: int, cap: int) -> JobSnapshot:
    release = _mine(release_id)
    if release.status != ReleaseStatus.DRAFT:
        raise releases.Conflict(
            "files change only while the release is a draft", details={"status": release.status}
        )
    release_files.check_slot(release, kind, position)
    upload = uploaded_file()
    file_id = uuid.uuid4()
    key = release_files.storage_key(release.org_id, release.id, file_id)
    store = storage(platform().settings)
    stored = store.put(key, cast(BinaryIO, upload.stream), max_bytes=cap)
    try:
        _, replaced = release_files.record_file(
            session=db(),
            release=release,
            file_id=file_id,
            kind=kind,
            position=position,
            key=key,
            filename=upload.filename,
            size_bytes=stored.size,
            sha256=stored.sha256,
        )
        job = submit_job("fans.check_file", {"file_id": str(file_id)})
        db().commit()
    except BaseException:
        store.delete(key)
        raise
    if replaced is not None:
        store.delete(replaced)
    return job


@blp.route("/releases/<uuid:release_id>/artwork", methods=["POST"])
@blp.response(202, JobRead)
@blp.alt_response(413, description="Larger than RELEASE_MAX_ARTWORK_BYTES.")
@blp.doc(security=BEARER)
@accepts_upload(lambda settings: settings.release_max_artwork_bytes)
@auth_required
def upload_artwork(release_id: uuid.UUID) -> JobSnapshot:
    """Upload the artwork (multipart, part "file"); a job checks it: JPEG/PNG, square, RGB"""
    cap = platform().settings.release_max_artwork_bytes
    return _take_file(release_id, FileKind.ARTWORK, 0, cap)


@blp.route("/releases/<uuid:release_id>/tracks/<int:position>/audio", methods=["POST"])
@blp.response(202, JobRead)
@blp.alt_response(413, description="Larger than RELEASE_MAX_AUDIO_BYTES.")
@blp.doc(security=BEARER)
@accepts_upload(lambda settings: settings.release_max_audio_bytes)
@auth_required
def upload_audio(release_id: uuid.UUID, position: int) -> JobSnapshot:
    """Upload a track's audio (multipart, part "file"); a job checks it: WAV or FLAC"""
    cap = platform().settings.release_max_audio_bytes
    return _take_file(release_id, FileKind.AUDIO, position, cap)


def _signed_url(file: ReleaseFile) -> dict[str, Any]:
    settings = platform().settings
    expires = time.time() + settings.release_file_url_ttl_s
    token = jwt.encode(
        {"aud": FILE_AUDIENCE, "sub": str(file.id), "exp": expires},
        settings.jwt_secret,
        algorithm="HS256",
    )
    return {
        "url": url_for("releases.FileDownload", token=token, _external=True),
        "expires_at": datetime.fromtimestamp(expires, UTC),
    }


@blp.route("/releases/<uuid:release_id>/files/<uuid:file_id>/url")
class FileLink(MethodView):
    @blp.response(200, FileUrl)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, release_id: uuid.UUID, file_id: uuid.UUID) -> dict[str, Any]:
        """A short-lived signed URL to download one of the release's files"""
        viewer = current_viewer()
        org_id = None if viewer.is_admin else current_org_id()
        file = release_files.get_file(session=db(), org_id=org_id, file_id=file_id)
        if file.release_id != release_id:
            raise NotFound("no file with this id", details={"file_id": str(file_id)})
        return _signed_url(file)


@blp.route("/files/<string:token>")
class FileDownload(MethodView):
    @blp.response(200, description="The file.", content_type="application/octet-stream")
    def get(self, token: str) -> Response:
        """Download a file through a signed URL (it expires; then ask for a new one)"""
        settings = platform().settings
        try:
            claims = jwt.decode(
                token, settings.jwt_secret, algorithms=["HS256"], audience=FILE_AUDIENCE
            )
            file_id = uuid.UUID(claims["sub"])
        except (jwt.PyJWTError, KeyError, ValueError):
            raise NotFound("this link is invalid or expired; ask for a new one") from None
        file = release_files.get_file(session=db(), org_id=None, file_id=file_id)
        store = storage(settings)

        def chunks() -> Iterator[bytes]:
            with store.open(file.storage_key) as f:
                while chunk := f.read(CHUNK_BYTES):
                    yield chunk

        return Response(
            stream_with_context(chunks()),
            mimetype="application/octet-stream",
            headers={
                "Content-Disposition": f'attachment; filename="{file.kind}-{file.id}"',
                "Content-Length": str(file.size_bytes),
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
            },
        )


# -- review (platform admins) ----------------------------------------------------------------
def _mail_decision(release: Release) -> None:
    artist = db().get(User, release.created_by) if release.created_by else None
    if artist is None:
        return
    title = " ".join(release.title.split())
    if release.status == ReleaseStatus.APPROVED:
        subject, text = f'"{title}" is approved', f'Your release "{title}" passed review.'
    else:
        subject = f'"{title}" needs changes'
        text = (
            f'Your release "{title}" was not approved:\n\n{release.rejection_reason}\n\n'
            "Reopen it as a draft (POST /api/v1/releases/<id>/reopen), fix it and submit again."
        )
    send_mail(artist, artist.email, subject, text, org_id=release.org_id)


@blp.route("/admin/releases")
class ReviewQueueView(MethodView):
    @blp.response(200, ReviewQueue)
    @blp.doc(security=BEARER)
    @admin_required
    def get(self) -> dict[str, Any]:
        """Releases waiting for review, longest waiting first (platform admins)"""
        return {"items": releases.review_queue(session=db(), limit=200)}


@blp.route("/admin/releases/<uuid:release_id>/approve")
class Approve(MethodView):
    @blp.response(200, ReleaseRead)
    @blp.doc(security=BEARER)
    @admin_required
    def post(self, release_id: uuid.UUID) -> Release:
        """Approve a release under review; the artist is mailed (platform admins)"""
        return _decide(release_id, approve=True, reason=None)


@blp.route("/admin/releases/<uuid:release_id>/reject")
class Reject(MethodView):
    @blp.arguments(Rejection)
    @blp.response(200, ReleaseRead)
    @blp.doc(security=BEARER)
    @admin_required
    def post(self, body: dict[str, Any], release_id: uuid.UUID) -> Release:
        """Reject a release under review with the reason; the artist is mailed"""
        return _decide(release_id, approve=False, reason=body["reason"])


def _decide(release_id: uuid.UUID, *, approve: bool, reason: str | None) -> Release:
    viewer = current_viewer()
    release = releases.decide(
        session=db(),
        release_id=release_id,
        reviewer_id=viewer.user_id,
        is_admin=viewer.is_admin,
        approve=approve,
        reason=reason,
    )
    _mail_decision(release)
    db().commit()
    return release
