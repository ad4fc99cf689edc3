"""Triggering an effect: an entry in the session's log (models/live/log.py), played by
every overlay of the session.

The session row is locked while the entry is added, so two triggers with the same
Idempotency-Key make one entry, and the second gets the first's.

The overlay queue never overlaps: each effect lasts its `duration_ms` (MIN_EFFECT_MS at
least, whatever its asset said), and a trigger is
planned to start when the one before it ends (`starts_at = max(now, previous ends_at)`). A
burst is queued, not dropped, up to `queue_cap` effects not yet finished; past it the trigger
is refused with QueueFull (429, with when a place frees up).
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.core.errors import Conflict, InvalidInput, LimitReached, NotFound
from models.live import brand_kits, effects
from models.live.effects import Effect
from models.live.log import append
from models.live.sessions import lock_session
from models.live.tables import (
    CheckStatus,
    EventType,
    LiveEvent,
    LiveSession,
    SessionStatus,
    UploadedEffect,
)


class QueueFull(LimitReached):
    """The session's overlay queue holds as many effects as it may; one must finish first."""

    code = "queue_full"


class CategoryNotAllowed(InvalidInput):
    """The effect's category is not one the session's brand kit allows."""

    code = "category_not_allowed"


def _hash(effect_id: uuid.UUID, message: str | None) -> str:
    raw = json.dumps([str(effect_id), message], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def trigger(
    *,
    session: Session,
    org_id: uuid.UUID,
    session_id: uuid.UUID,
    effect_id: uuid.UUID,
    message: str | None,
    key: str | None,
    queue_cap: int,
    asset_url: Callable[[Effect], str | None],
) -> tuple[LiveEvent, bool]:
    """The log entry of this trigger, and whether it is new (False: the Idempotency-Key's
    earlier trigger, unchanged)."""
    live = lock_session(session=session, org_id=org_id, session_id=session_id)
    request_hash = _hash(effect_id, message)
    if key is not None:
        earlier = session.scalar(
            select(LiveEvent).where(
                LiveEvent.session_id == live.id, LiveEvent.idempotency_key == key
            )
        )
        if earlier is not None:
            if earlier.request_hash != request_hash:
                raise Conflict(
                    "this Idempotency-Key was used for another trigger of this session",
                    details={"seq": earlier.seq},
                )
            return earlier, False
    if live.status != SessionStatus.ACTIVE:
        raise Conflict("the session has ended", details={"session_id": str(live.id)})
    effect = effects.playable(
        effects.get_effect(session=session, org_id=org_id, effect_id=effect_id)
    )
    brand = _check_brand_kit(session, live, effect)
    now = utcnow()
    _check_queue(session, live, now, queue_cap)
    starts_at = max(now, live.queue_ends_at or now)
    ends_at = starts_at + timedelta(milliseconds=max(effects.MIN_EFFECT_MS, effect.duration_ms))
    event = append(
        session=session,
        live=live,
        type=EventType.EFFECT,
        data={"effect": effect.as_played(asset_url(effect)), "message": message, "brand": brand},
        starts_at=starts_at,
        ends_at=ends_at,
        key=key,
        request_hash=request_hash,
    )
    live.queue_ends_at = ends_at
    live.last_activity_at = now
    live.triggers += 1
    return event, True


def _check_brand_kit(session: Session, live: LiveSession, effect: Effect) -> dict[str, Any] | None:
    """How the overlay draws the effect (the kit's look); CategoryNotAllowed outside the kit."""
    if live.brand_kit_id is None:
        return None
    kit = brand_kits.get_kit(session=session, org_id=live.org_id, kit_id=live.brand_kit_id)
    if effect.category not in kit.allowed_categories:
        raise CategoryNotAllowed(
            f"the session's brand kit {kit.name!r} allows {', '.join(kit.allowed_categories)} "
            f"effects, not {effect.category}",
            details={
                "category": effect.category,
                "allowed_categories": kit.allowed_categories,
                "brand_kit_id": str(kit.id),
            },
        )
    return {
        "palette": kit.palette,
        "typography": kit.typography,
        "motion_intensity": kit.motion_intensity,
    }


def overlay_asset(*, session: Session, live: LiveSession, effect_id: uuid.UUID) -> UploadedEffect:
    """The uploaded effect whose asset an overlay of `live` may load: one that could be
    triggered on it now (checked and passed, in its brand kit's categories) while it is
    active. NotFound for any other, the organisation's other uploads included: a link opens
    what its session plays, and nothing once the session has ended."""
    found = effects.get_upload(session=session, org_id=live.org_id, effect_id=effect_id)
    usable = live.status == SessionStatus.ACTIVE and found.status == CheckStatus.PASSED
    if usable and live.brand_kit_id is not None:
        kit = brand_kits.get_kit(session=session, org_id=live.org_id, kit_id=live.brand_kit_id)
        usable = found.category in kit.allowed_categories
    if not usable:
        raise NotFound("no playable effect with this id", details={"effect_id": str(effect_id)})
    return found


def _check_queue(session: Session, live: LiveSession, now: datetime, cap: int) -> None:
    # Read through ix_live_events_queue: the effects not yet finished, not the whole log.
    waiting = session.execute(
        select(func.count(), func.min(LiveEvent.ends_at)).where(
            LiveEvent.session_id == live.id,
            LiveEvent.type == EventType.EFFECT.value,
            LiveEvent.ends_at > now,
        )
    ).one()
    count, first_ends = waiting
    if count >= cap and first_ends is not None:
        wait_s = math.ceil((first_ends - now).total_seconds())
        raise QueueFull(
            f"the overlay queue holds {cap} effects, the most it may; the next place frees "
            f"up in {wait_s} s",
            retry_after_s=wait_s,
            details={"queue_cap": cap, "queued": count, "frees_at": first_ends.isoformat()},
        )


def queue_of(*, session: Session, live: LiveSession) -> list[LiveEvent]:
    """The effects of the session not yet finished, in the order they play."""
    return list(
        session.scalars(
            select(LiveEvent)
            .where(
                LiveEvent.session_id == live.id,
                LiveEvent.type == EventType.EFFECT.value,
                LiveEvent.ends_at > utcnow(),
            )
            .order_by(LiveEvent.seq)
        )
    )
