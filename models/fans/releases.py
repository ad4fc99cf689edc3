"""Music releases: drafts with their tracks, submitted for review, approved or rejected.

States: draft → under_review → approved | rejected; a rejected release goes back to draft
to be fixed and submitted again. Every transition is kept in the release's history. Only a
draft can be edited; a release is submitted only when its track count fits its type and its
artwork and every track's audio passed their checks (models/fans/release_files.py).

Track counts per type: a Single has exactly 1 track, an EP 2 to 6, an Album 7 to 30.
"""

from __future__ import annotations

import enum
import re
import uuid
from datetime import date
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from models.core.base import Base, now_ts, timestamp, utcnow, uuid_pk
from models.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from models.core.pages import newest_first


class ReleaseType(enum.StrEnum):
    SINGLE = "single"
    EP = "ep"
    ALBUM = "album"


class ReleaseStatus(enum.StrEnum):
    DRAFT = "draft"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"


LABELS = {"single": "a Single", "ep": "an EP", "album": "an Album"}
TRACK_COUNTS = {ReleaseType.SINGLE: (1, 1), ReleaseType.EP: (2, 6), ReleaseType.ALBUM: (7, 30)}
ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}\Z")


class Release(Base):
    __tablename__ = "releases"
    __table_args__ = (
        Index("ix_releases_org_id_created_at", "org_id", "created_at", "id"),
        Index("ix_releases_status_submitted_at", "status", "submitted_at"),
        CheckConstraint("type IN ('single', 'ep', 'album')", name="type"),
        CheckConstraint(
            "status IN ('draft', 'under_review', 'approved', 'rejected')", name="status"
        ),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    type: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(200))
    artist_name: Mapped[str] = mapped_column(String(200))
    genre: Mapped[str | None] = mapped_column(String(100))
    release_date: Mapped[date | None]
    upc: Mapped[str | None] = mapped_column(String(14))
    status: Mapped[str] = mapped_column(String(20), server_default=ReleaseStatus.DRAFT.value)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[timestamp | None]
    created_at: Mapped[now_ts]
    updated_at: Mapped[now_ts]

    tracks: Mapped[list[Track]] = relationship(
        order_by="Track.position", cascade="all, delete-orphan", lazy="selectin"
    )
    history: Mapped[list[ReleaseEvent]] = relationship(
        order_by="ReleaseEvent.id", cascade="all, delete-orphan", lazy="selectin"
    )


class Track(Base):
    __tablename__ = "release_tracks"
    __table_args__ = (CheckConstraint("position >= 1", name="position"),)

    release_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("releases.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    artists: Mapped[list[str]] = mapped_column(ARRAY(String(200)), server_default="{}")
    featured_artists: Mapped[list[str]] = mapped_column(ARRAY(String(200)), server_default="{}")
    songwriters: Mapped[list[str]] = mapped_column(ARRAY(String(200)), server_default="{}")
    credits: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    genre: Mapped[str | None] = mapped_column(String(100))
    isrc: Mapped[str | None] = mapped_column(String(12))
    lyrics: Mapped[str | None] = mapped_column(Text)


class ReleaseEvent(Base):
    """One transition of a release, who made it and why."""

    __tablename__ = "release_events"
    __table_args__ = (Index("ix_release_events_release_id", "release_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("releases.id", ondelete="CASCADE")
    )
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[now_ts]


# -- checks ----------------------------------------------------------------------------------
def normalise_isrc(raw: str) -> str:
    """An ISRC without its dashes, upper-case; ValueError unless CC-XXX-YY-NNNNN (the caller,
    `_check_values`, gathers it into the release's InvalidInput with every other field)."""
    isrc = raw.replace("-", "").strip().upper()
    if not ISRC.match(isrc):
        raise ValueError(
            "an ISRC is 12 characters: country, registrant, year, number (e.g. USRC17607839)"
        )
    return isrc


def check_upc(raw: str) -> str:
    """A UPC-A (12 digits) or EAN-13 whose last digit is its check digit."""
    upc = raw.strip()
    if not (upc.isascii() and upc.isdigit()) or len(upc) not in (12, 13):
        raise ValueError("a UPC is 12 digits (or an EAN 13)")
    body, check = upc[:-1], int(upc[-1])
    weights = [3 if i % 2 == 0 else 1 for i in range(len(body))]
    total = sum(int(d) * w for d, w in zip(reversed(body), weights, strict=True))
    if (10 - total % 10) % 10 != check:
        raise ValueError("the UPC's check digit is wrong")
    return upc


def _check_values(values: dict[str, Any]) -> dict[str, Any]:
    problems: dict[str, list[str]] = {}
    if values.get("upc"):
        try:
            values["upc"] = check_upc(values["upc"])
        except ValueError as error:
            problems["upc"] = [str(error)]
    for n, track in enumerate(values.get("tracks") or []):
        if track.get("isrc"):
            try:
                track["isrc"] = normalise_isrc(track["isrc"])
            except ValueError as error:
                problems[f"tracks.{n}.isrc"] = [str(error)]
    if "tracks" in values and "type" in values:
        low, high = TRACK_COUNTS[ReleaseType(values["type"])]
        if len(values["tracks"]) > high:
            problems["tracks"] = [f"{LABELS[values['type']]} has at most {high} tracks"]
    if problems:
        raise InvalidInput("the release has invalid fields", details={"fields": problems})
    return values


# -- reads -----------------------------------------------------------------------------------
def get_release(*, session: Session, org_id: uuid.UUID, release_id: uuid.UUID) -> Release:
    release = session.scalar(
        select(Release).where(Release.id == release_id, Release.org_id == org_id)
    )
    if release is None:
        raise NotFound("no release with this id", details={"release_id": str(release_id)})
    return release


def any_release(*, session: Session, release_id: uuid.UUID) -> Release:
    """A release of any organisation (platform admins' review)."""
    release = session.get(Release, release_id)
    if release is None:
        raise NotFound("no release with this id", details={"release_id": str(release_id)})
    return release


def _locked(session: Session, release: Release) -> Release:
    session.refresh(release, with_for_update=True)
    return release


# -- writes ----------------------------------------------------------------------------------
def _set_tracks(release: Release, tracks: list[dict[str, Any]]) -> None:
    release.tracks = [Track(position=n, **track) for n, track in enumerate(tracks, start=1)]


def create_release(
    *, session: Session, org_id: uuid.UUID, user_id: uuid.UUID, values: dict[str, Any]
) -> Release:
    values = _check_values(dict(values))
    tracks = values.pop("tracks", [])
    release = Release(org_id=org_id, created_by=user_id, **values)
    _set_tracks(release, tracks)
    release.history = [ReleaseEvent(to_status=ReleaseStatus.DRAFT, actor_id=user_id)]
    session.add(release)
    session.flush()
    return release


def update_release(
    *, session: Session, org_id: uuid.UUID, release_id: uuid.UUID, values: dict[str, Any]
) -> Release:
    """Change a draft; its tracks, when given, replace the old ones (their files stay with
    their positions)."""
    release = _locked(session, get_release(session=session, org_id=org_id, release_id=release_id))
    _require(release, ReleaseStatus.DRAFT, "edited")
    values = _check_values({"type": release.type, **values})
    if "tracks" in values:
        _set_tracks(release, values.pop("tracks"))
    for name, value in values.items():
        setattr(release, name, value)
    release.updated_at = utcnow()
    session.flush()
    return release


def _require(release: Release, status: ReleaseStatus, action: str) -> None:
    if release.status != status:
        raise Conflict(
            f"only a release in {status.value} can be {action}; this one is {release.status}",
            details={"status": release.status},
        )


def _move(release: Release, to: ReleaseStatus, actor_id: uuid.UUID, reason: str | None) -> None:
    release.history.append(
        ReleaseEvent(from_status=release.status, to_status=to, actor_id=actor_id, reason=reason)
    )
    release.status = to
    release.updated_at = utcnow()


def submit_release(
    *,
    session: Session,
    org_id: uuid.UUID,
    release_id: uuid.UUID,
    user_id: uuid.UUID,
    files_passed: Any,
) -> Release:
    """Send a draft for review: its track count must fit its type, its files have passed.

    `files_passed(release)` answers the problems with its files by field (empty: none)."""
    release = _locked(session, get_release(session=session, org_id=org_id, release_id=release_id))
    _require(release, ReleaseStatus.DRAFT, "submitted")
    low, high = TRACK_COUNTS[ReleaseType(release.type)]
    problems: dict[str, list[str]] = dict(files_passed(release))
    if not low <= len(release.tracks) <= high:
        span = str(low) if low == high else f"{low} to {high}"
        problems["tracks"] = [
            f"{LABELS[release.type]} has {span} tracks; this one has {len(release.tracks)}"
        ]
    if problems:
        raise InvalidInput("the release is not ready for review", details={"fields": problems})
    release.submitted_at = utcnow()
    release.rejection_reason = None
    _move(release, ReleaseStatus.UNDER_REVIEW, user_id, None)
    session.flush()
    return release


def reopen_release(
    *, session: Session, org_id: uuid.UUID, release_id: uuid.UUID, user_id: uuid.UUID
) -> Release:
    """A rejected release back to draft, to be fixed and submitted again."""
    release = _locked(session, get_release(session=session, org_id=org_id, release_id=release_id))
    _require(release, ReleaseStatus.REJECTED, "reopened")
    _move(release, ReleaseStatus.DRAFT, user_id, None)
    session.flush()
    return release


def decide(
    *,
    session: Session,
    release_id: uuid.UUID,
    reviewer_id: uuid.UUID,
    is_admin: bool,
    approve: bool,
    reason: str | None,
) -> Release:
    """A platform admin's decision on a release under review (a reason when rejecting)."""
    if not is_admin:
        raise PermissionDenied("platform admins only")
    release = _locked(session, any_release(session=session, release_id=release_id))
    _require(release, ReleaseStatus.UNDER_REVIEW, "decided")
    if not approve and not (reason or "").strip():
        raise InvalidInput(
            "say why the release is rejected", details={"fields": {"reason": ["required"]}}
        )
    to = ReleaseStatus.APPROVED if approve else ReleaseStatus.REJECTED
    release.rejection_reason = None if approve else reason
    _move(release, to, reviewer_id, reason)
    session.flush()
    return release


def review_queue(*, session: Session, limit: int) -> list[Release]:
    """Releases under review, longest waiting first."""
    return list(
        session.scalars(
            select(Release)
            .where(Release.status == ReleaseStatus.UNDER_REVIEW)
            .order_by(Release.submitted_at, Release.id)
            .limit(limit)
        )
    )


def approved_releases(*, session: Session, org_id: uuid.UUID) -> list[Release]:
    return list(
        session.scalars(
            select(Release)
            .where(Release.org_id == org_id, Release.status == ReleaseStatus.APPROVED)
            .order_by(Release.release_date.desc().nulls_last(), Release.created_at.desc())
        )
    )


def list_releases(
    *, session: Session, org_id: uuid.UUID, status: str | None, cursor: str | None, limit: int
) -> tuple[list[Release], str | None]:
    query = select(Release).where(Release.org_id == org_id)
    if status is not None:
        query = query.where(Release.status == status)
    return newest_first(
        session=session,
        query=query,
        created_at=Release.created_at,
        row_id=Release.id,
        cursor=cursor,
        limit=limit,
    )


def release_summary(*, session: Session, org_id: uuid.UUID, latest: int) -> dict[str, Any]:
    """How many releases in each state, and the `latest` releases (newest first)."""
    counts = session.execute(
        select(Release.status, func.count())
        .where(Release.org_id == org_id)
        .group_by(Release.status)
    )
    rows = session.execute(
        select(Release.title, Release.type, Release.status, Release.release_date)
        .where(Release.org_id == org_id)
        .order_by(Release.created_at.desc(), Release.id.desc())
        .limit(latest)
    )
    return {
        "by_status": {status: n for status, n in counts},
        "latest": [
            {
                "title": title,
                "type": kind,
                "status": status,
                "release_date": released.isoformat() if released else None,
            }
            for title, kind, status, released in rows
        ],
    }
