"""A release's files: its artwork and each track's audio, stored (workers/core/storage.py)
under keys of our own making and checked by a job before the release can be submitted.

Artwork: JPEG or PNG, square, at least 3000×3000 pixels, RGB. Audio: WAV or FLAC, its
duration read. A file's check is `pending` until the job says `passed` or `failed` (with
the problem); uploading again replaces the file and its check.
"""

from __future__ import annotations

import enum
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.core.base import Base, now_ts, uuid_pk
from models.core.errors import InvalidInput, NotFound
from models.fans.releases import Release

MIN_ARTWORK_PX = 3000
ARTWORK_FORMATS = ("JPEG", "PNG")


class FileKind(enum.StrEnum):
    ARTWORK = "artwork"
    AUDIO = "audio"


class CheckStatus(enum.StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


class ReleaseFile(Base):
    __tablename__ = "release_files"
    __table_args__ = (
        # One current file per slot: the artwork (position 0) and each track's audio.
        Index("uq_release_files_slot", "release_id", "kind", "position", unique=True),
        Index("ix_release_files_org_id", "org_id"),
        CheckConstraint("kind IN ('artwork', 'audio')", name="kind"),
        CheckConstraint("status IN ('pending', 'passed', 'failed')", name="status"),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    release_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("releases.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(SmallInteger)  # 0 for the artwork, else the track's
    storage_key: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(300))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), server_default=CheckStatus.PENDING.value)
    problem: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[now_ts]


def storage_key(org_id: uuid.UUID, release_id: uuid.UUID, file_id: uuid.UUID) -> str:
    return f"releases/{org_id}/{release_id}/{file_id}"


def check_slot(release: Release, kind: FileKind, position: int) -> None:
    if kind == FileKind.AUDIO and position not in {t.position for t in release.tracks}:
        raise NotFound("the release has no track at this position", details={"position": position})


def record_file(
    *,
    session: Session,
    release: Release,
    file_id: uuid.UUID,
    kind: FileKind,
    position: int,
    key: str,
    filename: str,
    size_bytes: int,
    sha256: str,
) -> tuple[ReleaseFile, str | None]:
    """The file now in the slot, pending its check, and the key of the one it replaced."""
    old = session.scalar(
        select(ReleaseFile)
        .where(
            ReleaseFile.release_id == release.id,
            ReleaseFile.kind == kind,
            ReleaseFile.position == position,
        )
        .with_for_update()
    )
    replaced = old.storage_key if old is not None else None
    if old is not None:
        session.delete(old)
        session.flush()
    new = ReleaseFile(
        id=file_id,
        org_id=release.org_id,
        release_id=release.id,
        kind=kind,
        position=position,
        storage_key=key,
        filename=filename[:300],
        size_bytes=size_bytes,
        sha256=sha256,
    )
    session.add(new)
    session.flush()
    return new, replaced


def files_of(*, session: Session, release_id: uuid.UUID) -> list[ReleaseFile]:
    return list(
        session.scalars(
            select(ReleaseFile)
            .where(ReleaseFile.release_id == release_id)
            .order_by(ReleaseFile.kind, ReleaseFile.position)
        )
    )


def get_file(*, session: Session, org_id: uuid.UUID | None, file_id: uuid.UUID) -> ReleaseFile:
    """The file, if it is the organisation's (None: any organisation's, for admins)."""
    query = select(ReleaseFile).where(ReleaseFile.id == file_id)
    if org_id is not None:
        query = query.where(ReleaseFile.org_id == org_id)
    found = session.scalar(query)
    if found is None:
        raise NotFound("no file with this id", details={"file_id": str(file_id)})
    return found


def file_problems(session: Session) -> Any:
    """For submit_release: what keeps a release's files from review, by field."""

    def problems(release: Release) -> dict[str, list[str]]:
        files = {(f.kind, f.position): f for f in files_of(session=session, release_id=release.id)}
        found: dict[str, list[str]] = {}
        slots = [("artwork", 0, "artwork")] + [
            ("audio", t.position, f"tracks.{t.position}.audio") for t in release.tracks
        ]
        for kind, position, field in slots:
            file = files.get((kind, position))
            if file is None:
                found[field] = ["missing: upload it"]
            elif file.status == CheckStatus.PENDING:
                found[field] = ["still being checked"]
            elif file.status == CheckStatus.FAILED:
                found[field] = [f"failed its check: {file.problem}"]
        return found

    return problems


def record_check(
    *, session: Session, org_id: uuid.UUID, file_id: uuid.UUID, problem: str | None, details: dict
) -> ReleaseFile | None:
    """Note a check's outcome; None when the file was replaced or removed meanwhile."""
    file = session.scalar(
        select(ReleaseFile)
        .where(ReleaseFile.id == file_id, ReleaseFile.org_id == org_id)
        .with_for_update()
    )
    if file is None:
        return None
    file.status = CheckStatus.FAILED if problem else CheckStatus.PASSED
    file.problem = problem
    file.details = details
    return file


def require_kind(raw: str) -> FileKind:
    try:
        return FileKind(raw)
    except ValueError:
        raise InvalidInput("artwork or audio", details={"fields": {"kind": ["invalid"]}}) from None
