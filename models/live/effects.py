"""The effects library: the built-in effects every organisation has, and its own uploads.

A built-in effect is drawn by the overlay page itself (its `animation`); an uploaded one is
an image or a sound in storage, checked by the `live.check_effect` job (type, size, and the
sound's length) before it can be triggered.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.core.errors import Conflict, InvalidInput, NotFound
from models.live import tiers
from models.live.tables import CheckStatus, UploadedEffect

_BUILT_IN_NS = uuid.UUID("6f1d2a8e-3b4c-4d5e-9f60-71829304a5b6")
# Images an overlay can show, and sounds it can play (as Pillow and mutagen name them).
IMAGE_FORMATS = ("PNG", "GIF", "WEBP", "JPEG")
SOUND_FORMATS = ("mp3", "ogg", "wav")
MAX_SOUND_MS = 30_000
# The shortest an effect plays, whatever its asset says: the queue's spacing, so a burst of
# blips cannot fill the log faster than overlays can show it.
MIN_EFFECT_MS = 200


@dataclass(frozen=True)
class Effect:
    """An effect as the library lists it and as a trigger plays it."""

    id: uuid.UUID
    name: str
    category: str
    duration_ms: int
    built_in: bool
    animation: str | None = None  # built-ins: what the overlay page draws
    status: str = CheckStatus.PASSED.value
    problem: str | None = None

    def as_played(self, asset_url: str | None) -> dict[str, Any]:
        """What a trigger's event carries about the effect."""
        return {
            "id": str(self.id),
            "name": self.name,
            "category": self.category,
            "duration_ms": self.duration_ms,
            "animation": self.animation,
            "asset_url": asset_url,
        }


def _built_in(animation: str, name: str, category: str, duration_ms: int) -> Effect:
    return Effect(uuid.uuid5(_BUILT_IN_NS, animation), name, category, duration_ms, True, animation)


BUILT_INS: tuple[Effect, ...] = (
    _built_in("follower-alert", "New follower", "alert", 5000),
    _built_in("subscriber-alert", "New subscriber", "alert", 6000),
    _built_in("confetti", "Confetti", "celebration", 3000),
    _built_in("fireworks", "Fireworks", "celebration", 4000),
    _built_in("hearts", "Hearts", "reaction", 2500),
    _built_in("snow", "Snowfall", "ambient", 8000),
    _built_in("wipe", "Colour wipe", "transition", 1000),
)
_BY_ID = {e.id: e for e in BUILT_INS}


def _from_upload(row: UploadedEffect) -> Effect:
    duration_ms = max(MIN_EFFECT_MS, row.duration_ms)
    return Effect(row.id, row.name, row.category, duration_ms, False, None, row.status, row.problem)


def library(*, session: Session, org_id: uuid.UUID, category: str | None) -> list[Effect]:
    """The built-ins, then the organisation's uploads (newest first); of one category."""
    query = select(UploadedEffect).where(UploadedEffect.org_id == org_id)
    if category is not None:
        query = query.where(UploadedEffect.category == category)
    uploads = session.scalars(query.order_by(UploadedEffect.created_at.desc()).limit(500))
    built_ins = [e for e in BUILT_INS if category is None or e.category == category]
    return built_ins + [_from_upload(u) for u in uploads]


def get_upload(*, session: Session, org_id: uuid.UUID, effect_id: uuid.UUID) -> UploadedEffect:
    found = session.scalar(
        select(UploadedEffect).where(
            UploadedEffect.id == effect_id, UploadedEffect.org_id == org_id
        )
    )
    if found is None:
        raise NotFound("no effect with this id", details={"effect_id": str(effect_id)})
    return found


def get_effect(*, session: Session, org_id: uuid.UUID, effect_id: uuid.UUID) -> Effect:
    """A built-in, or one of the organisation's uploads."""
    built_in = _BY_ID.get(effect_id)
    if built_in is not None:
        return built_in
    return _from_upload(get_upload(session=session, org_id=org_id, effect_id=effect_id))


def playable(effect: Effect) -> Effect:
    """The effect, if it can be triggered: an upload must have passed its check."""
    if effect.status == CheckStatus.PENDING:
        raise Conflict(
            "this effect is still being checked; trigger it once its check has passed",
            details={"effect_id": str(effect.id)},
        )
    if effect.status == CheckStatus.FAILED:
        raise Conflict(
            f"this effect failed its check: {effect.problem}",
            details={"effect_id": str(effect.id)},
        )
    return effect


class UploadsFull(Conflict):
    """The organisation keeps as many uploaded effects as it may; one must be deleted first."""

    code = "effect_uploads_full"


def check_filename(filename: str) -> str:
    """The file's name as sent, unless it holds control characters (a NUL cannot be stored,
    and a line break has no place in a name shown in lists): InvalidInput then."""
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in filename):
        raise InvalidInput(
            "the file's name holds control characters: rename the file",
            details={"fields": {"file": ["control characters in the file name"]}},
        )
    return filename


def check_room(*, session: Session, org_id: uuid.UUID, cap: int) -> None:
    """UploadsFull when the organisation keeps `cap` uploads already. Asked before the bytes
    are stored (a refusal costs no storage) and again by record_upload under the
    organisation's lock (two uploads at once cannot both take the last place)."""
    kept = session.scalar(
        select(func.count()).select_from(UploadedEffect).where(UploadedEffect.org_id == org_id)
    )
    if (kept or 0) >= cap:
        raise UploadsFull(
            f"your organization keeps {cap} uploaded effects, the most it may: "
            "delete one before uploading another",
            details={"max_effect_uploads": cap},
        )


def storage_key(org_id: uuid.UUID, effect_id: uuid.UUID) -> str:
    return f"live/{org_id}/effects/{effect_id}"


def record_upload(
    *,
    session: Session,
    org_id: uuid.UUID,
    effect_id: uuid.UUID,
    values: dict[str, Any],
    filename: str,
    size_bytes: int,
    sha256: str,
    cap: int,
) -> UploadedEffect:
    tiers.lock_rules(session=session, org_id=org_id)
    check_room(session=session, org_id=org_id, cap=cap)
    row = UploadedEffect(
        id=effect_id,
        org_id=org_id,
        name=values["name"],
        category=values["category"],
        duration_ms=values["duration_ms"],
        storage_key=storage_key(org_id, effect_id),
        filename=filename[:300],
        size_bytes=size_bytes,
        sha256=sha256,
    )
    session.add(row)
    session.flush()
    return row


def record_check(
    *,
    session: Session,
    org_id: uuid.UUID,
    effect_id: uuid.UUID,
    problem: str | None,
    details: dict[str, Any],
) -> UploadedEffect | None:
    """Note a check's outcome; a sound's own length becomes the effect's duration. None when
    the effect was deleted meanwhile."""
    row = session.scalar(
        select(UploadedEffect)
        .where(UploadedEffect.id == effect_id, UploadedEffect.org_id == org_id)
        .with_for_update()
    )
    if row is None:
        return None
    row.status = CheckStatus.FAILED if problem else CheckStatus.PASSED
    row.problem = problem
    row.details = details
    if problem is None and details.get("duration_ms"):
        row.duration_ms = max(MIN_EFFECT_MS, int(details["duration_ms"]))
    return row


def delete_upload(*, session: Session, org_id: uuid.UUID, effect_id: uuid.UUID) -> str:
    """Delete the organisation's upload; the storage key to remove once committed."""
    if effect_id in _BY_ID:
        raise Conflict("built-in effects cannot be deleted", details={"effect_id": str(effect_id)})
    row = get_upload(session=session, org_id=org_id, effect_id=effect_id)
    session.delete(row)
    return row.storage_key
