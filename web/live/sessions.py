"""/api/v1/live/sessions: stream sessions, their event log, effect triggers, overlay links,
and the session's own stream for a dashboard (SSE).

A trigger (POST /sessions/<id>/effects) is written to the session's numbered log and
announced on the session's channel after the commit; every overlay of the session, on every
API process, is sent it (web/live/feed.py). Another organisation's session answers 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from models import engagement
from models.core.errors import InvalidInput
from models.live import log, overlays, sessions, triggers
from models.live.effects import Effect
from models.live.tables import LiveEvent, LiveSession, OverlayToken, SessionStatus
from web.core import limits
from web.core.auth import BEARER, auth_required, current_org_id, current_viewer
from web.core.context import db, platform
from web.core.job_schemas import IDEMPOTENCY_KEY
from web.core.streams import stream
from web.core.waits import wait_slots
from web.live.feed import SessionFeed
from web.live.overlay import overlay_holder
from web.live.schemas import (
    LiveEventPage,
    LiveEventQuery,
    LiveEventRead,
    LiveOverlayCreate,
    LiveOverlayCreated,
    LiveOverlayList,
    LiveOverlayRead,
    LiveSessionCreate,
    LiveSessionPage,
    LiveSessionQuery,
    LiveSessionRead,
    LiveTriggerCreate,
)
from web.live.streams import STREAM_DOC, resume_cursor
from workers.core.changes import announce_after_commit
from workers.live import session_channel

blp = Blueprint(
    "live_sessions",
    __name__,
    url_prefix="/api/v1/live",
    description="Stream sessions, effect triggers and overlay links.",
)


def _commit_announcing(session_id: uuid.UUID) -> None:
    """Commit, then wake the session's streams everywhere."""
    announce_after_commit(db(), [session_channel(session_id)])
    db().commit()


class _Figures:
    """A session with the overlay streams it has open now and the metrics recorded in it, for
    LiveSessionRead."""

    def __init__(self, live: LiveSession) -> None:
        self._live = live
        self.overlays_connected = wait_slots().count(overlay_holder(live.id))
        self.metrics = engagement.session_totals(db(), live.org_id, live.id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._live, name)


def _mine(session_id: uuid.UUID) -> LiveSession:
    return sessions.get_session(session=db(), org_id=current_org_id(), session_id=session_id)


@blp.route("/sessions")
class Sessions(MethodView):
    @blp.arguments(LiveSessionQuery, location="query")
    @blp.response(200, LiveSessionPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List the organization's stream sessions, newest first"""
        status = query.get("status")
        items, cursor = sessions.list_sessions(
            session=db(),
            org_id=current_org_id(),
            status=status.value if isinstance(status, SessionStatus) else None,
            cursor=query.get("cursor"),
            limit=query["limit"],
        )
        return {"items": items, "next_cursor": cursor}

    @blp.arguments(LiveSessionCreate)
    @blp.response(201, LiveSessionRead)
    @blp.alt_response(403, description="tier_required: the tier allows no more active sessions.")
    @blp.alt_response(409, description="You already have an active session on this platform.")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> LiveSession:
        """Start a stream session on a platform (one active per creator and platform)"""
        live = sessions.start_session(
            session=db(),
            org_id=current_org_id(),
            user_id=current_viewer().user_id,
            platform=body["platform"],
            title=body["title"],
            brand_kit_id=body["brand_kit_id"],
        )
        db().commit()
        return live


@blp.route("/sessions/<uuid:session_id>")
class SessionItem(MethodView):
    @blp.response(200, LiveSessionRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, session_id: uuid.UUID) -> _Figures:
        """A stream session: its status, its queue's end and its figures"""
        return _Figures(_mine(session_id))


@blp.route("/sessions/<uuid:session_id>/end")
class EndSession(MethodView):
    @blp.response(200, LiveSessionRead)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, session_id: uuid.UUID) -> LiveSession:
        """End a stream session; its overlays are told (ending it again changes nothing)"""
        live = sessions.end_session(session=db(), org_id=current_org_id(), session_id=session_id)
        _commit_announcing(session_id)
        return live


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise InvalidInput(
            "Idempotency-Key must be 1 to 200 printable ASCII characters",
            details={"fields": {"Idempotency-Key": ["invalid"]}},
        )
    return key


def _asset_url(session_id: uuid.UUID) -> Any:
    def asset_url(effect: Effect) -> str | None:
        if effect.built_in:
            return None
        return url_for("live_overlay.OverlayAsset", session_id=session_id, effect_id=effect.id)

    return asset_url


_TRIGGER_DOC: dict[str, Any] = {
    "security": BEARER,
    "parameters": [
        {
            "in": "header",
            "name": "Idempotency-Key",
            "schema": {"type": "string", "maxLength": 200},
            "description": "A repeat with the same key answers the first trigger's entry "
            "(200) and plays nothing again.",
        }
    ],
}


@blp.route("/sessions/<uuid:session_id>/effects")
class Trigger(MethodView):
    @limits.per_user("rate_limit_live_trigger")
    @blp.arguments(LiveTriggerCreate)
    @blp.response(201, LiveEventRead)
    @blp.alt_response(200, description="The Idempotency-Key's earlier trigger, unchanged.")
    @blp.alt_response(409, description="The session has ended, or the effect is not playable.")
    @blp.alt_response(422, description="category_not_allowed: outside the brand kit.")
    @blp.alt_response(
        429,
        description="queue_full: the overlay queue is at LIVE_QUEUE_CAP; rate_limited: "
        "RATE_LIMIT_LIVE_TRIGGER.",
    )
    @blp.doc(**_TRIGGER_DOC)
    @auth_required
    def post(self, body: dict[str, Any], session_id: uuid.UUID) -> Any:
        """Trigger an effect: queued after the ones before it, played by every overlay"""
        event, new = triggers.trigger(
            session=db(),
            org_id=current_org_id(),
            session_id=session_id,
            effect_id=body["effect_id"],
            message=body["message"],
            key=_idempotency_key(),
            queue_cap=platform().settings.live_queue_cap,
            asset_url=_asset_url(session_id),
        )
        answer = log.event_fields(event)
        if not new:
            db().rollback()
            return answer, 200
        _commit_announcing(session_id)
        return answer


@blp.route("/sessions/<uuid:session_id>/events")
class Events(MethodView):
    @blp.arguments(LiveEventQuery, location="query")
    @blp.response(200, LiveEventPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any], session_id: uuid.UUID) -> dict[str, Any]:
        """The session's event log past `after`, oldest first"""
        _mine(session_id)
        found: list[LiveEvent] = log.events_after(
            session=db(), session_id=session_id, after=query["after"], limit=query["limit"]
        )
        return {"items": [log.event_fields(e) for e in found]}


@blp.route("/sessions/<uuid:session_id>/stream")
class SessionStream(MethodView):
    @blp.alt_response(204, description="The session has ended and you have all its events.")
    @blp.doc(**STREAM_DOC, security=BEARER)
    @auth_required
    def get(self, session_id: uuid.UUID) -> Response:
        """Follow a session's log as it grows (SSE), e.g. for a dashboard"""
        live = _mine(session_id)
        cursor = resume_cursor(live)
        if cursor is None:
            return Response(status=204)
        return stream(SessionFeed(session_id), cursor, current_viewer().user_id)


def _overlay_links(token: OverlayToken, raw: str) -> dict[str, Any]:
    return {
        "id": token.id,
        "label": token.label,
        "created_at": token.created_at,
        "revoked_at": None,
        "token": raw,
        "overlay_url": url_for(
            "live_overlay_page.overlay", session_id=token.session_id, token=raw, _external=True
        ),
        "events_url": url_for(
            "live_overlay.OverlayEvents", session_id=token.session_id, token=raw, _external=True
        ),
    }


@blp.route("/sessions/<uuid:session_id>/overlays")
class Overlays(MethodView):
    @blp.response(200, LiveOverlayList)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, session_id: uuid.UUID) -> dict[str, Any]:
        """The session's overlay links (their tokens are never shown again)"""
        _mine(session_id)
        found = overlays.list_tokens(session=db(), org_id=current_org_id(), session_id=session_id)
        return {"items": found}

    @limits.per_user("rate_limit_live_overlay_link")
    @blp.arguments(LiveOverlayCreate)
    @blp.response(201, LiveOverlayCreated)
    @blp.alt_response(403, description="tier_required: the tier allows no more links.")
    @blp.alt_response(429, description="rate_limited: RATE_LIMIT_LIVE_OVERLAY_LINK.")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any], session_id: uuid.UUID) -> dict[str, Any]:
        """Make a read-only overlay link of the session, for an OBS browser source"""
        token, raw = overlays.create_token(
            session=db(), org_id=current_org_id(), session_id=session_id, label=body["label"]
        )
        db().commit()
        return _overlay_links(token, raw)


@blp.route("/sessions/<uuid:session_id>/overlays/<uuid:token_id>")
class OverlayItem(MethodView):
    @blp.response(200, LiveOverlayRead)
    @blp.doc(security=BEARER)
    @auth_required
    def delete(self, session_id: uuid.UUID, token_id: uuid.UUID) -> OverlayToken:
        """Revoke an overlay link: its open streams end, and it opens none again"""
        token = overlays.revoke_token(
            session=db(), org_id=current_org_id(), session_id=session_id, token_id=token_id
        )
        _commit_announcing(session_id)
        return token
