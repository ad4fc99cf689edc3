"""What an overlay reaches with its link's token, and nothing else: the session's event
stream, the assets of its uploaded effects, and the overlay page an OBS browser source loads.

An OBS browser source cannot send headers, so the token is in the URL (`?token=ovl_…`). It is
read-only and scoped to its session (models/live/overlays.py); the page and its responses
send no Referer onwards, and the request log records paths without their query.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from flask import Blueprint as FlaskBlueprint
from flask import Response, render_template, request, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from models.live import overlays, sessions, triggers
from models.live.tables import OverlayToken
from web.core.context import db, platform
from web.core.streams import stream
from web.core.waits import Slot, wait_slots
from web.live.feed import SessionFeed
from web.live.streams import STREAM_DOC, resume_cursor
from workers.core.storage import CHUNK_BYTES, storage

blp = Blueprint(
    "live_overlay",
    __name__,
    url_prefix="/api/v1/live/overlay",
    description="What an overlay link opens: its session's events and effect assets.",
)
TOKEN_PARAMETER = {
    "in": "query",
    "name": "token",
    "required": True,
    "schema": {"type": "string", "maxLength": 100},
    "description": "The overlay link's token (ovl_…): read-only, this session only.",
}
# An overlay page reads a session's stream many times a day; its link is its only secret.
NO_REFERRER = {"Referrer-Policy": "no-referrer"}
IMAGE_TYPES = {"PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp", "JPEG": "image/jpeg"}
SOUND_TYPES = {"mp3": "audio/mpeg", "ogg": "audio/ogg", "wav": "audio/wav"}


def overlay_holder(session_id: uuid.UUID) -> str:
    """What a session's overlay streams are counted under (web/core/waits.py)."""
    return f"live-overlay:{session_id}"


def link_holder(token_id: uuid.UUID) -> str:
    """What one overlay link's streams are counted under: a leaked link, opened over and over,
    must not take every place of its session's LIVE_MAX_OVERLAY_STREAMS."""
    return f"live-overlay-link:{token_id}"


def _link_slot(token_id: uuid.UUID, lease_s: float) -> Slot:
    settings = platform().settings
    cap = settings.live_max_streams_per_link
    slot = wait_slots().take(link_holder(token_id), lease_s, cap=cap)
    if slot is None:
        retry_s = max(1, int(settings.stream_heartbeat_s))
        raise overlays.LinkStreamsFull(
            f"this overlay link has {cap} streams open, the most it may: close one, or make "
            "another link for another scene",
            retry_after_s=retry_s,
            details={"max_streams_per_link": cap},
        )
    return slot


def _access(session_id: uuid.UUID) -> OverlayToken:
    return overlays.overlay_access(
        session=db(), session_id=session_id, raw=request.args.get("token")
    )


@blp.route("/<uuid:session_id>/events")
class OverlayEvents(MethodView):
    @blp.alt_response(204, description="The session has ended and you have all its events.")
    @blp.alt_response(401, description="The link is not this session's, or was revoked.")
    @blp.alt_response(
        429, description="overlay_link_streams_full: LIVE_MAX_STREAMS_PER_LINK are open."
    )
    @blp.doc(**{**STREAM_DOC, "parameters": [*STREAM_DOC["parameters"], TOKEN_PARAMETER]})
    def get(self, session_id: uuid.UUID) -> Response:
        """An overlay's stream: each effect triggered on its session, as it happens (SSE)"""
        token = _access(session_id)
        live = sessions.get_session(session=db(), org_id=token.org_id, session_id=session_id)
        cursor = resume_cursor(live)
        if cursor is None:
            return Response(status=204, headers=NO_REFERRER)
        token_id = token.id
        lease_s = 2 * platform().settings.stream_heartbeat_s + 30  # as the stream's own slot
        link_slot = _link_slot(token_id, lease_s)

        def still_allowed() -> bool:  # asked at each heartbeat: the link's slot is kept too
            link_slot.renew(lease_s)
            return overlays.token_live(session=db(), token_id=token_id)

        try:
            response = stream(
                SessionFeed(session_id, token_id),
                cursor,
                overlay_holder(session_id),
                still_allowed=still_allowed,
                max_waits=platform().settings.live_max_overlay_streams,
            )
        except BaseException:
            link_slot.release()
            raise
        response.call_on_close(link_slot.release)
        response.headers.update(NO_REFERRER)
        return response


@blp.route("/<uuid:session_id>/effects/<uuid:effect_id>/asset")
class OverlayAsset(MethodView):
    @blp.alt_response(401, description="The link is not this session's, or was revoked.")
    @blp.alt_response(
        404, description="Not an effect the session can play now, or the session has ended."
    )
    @blp.doc(
        parameters=[TOKEN_PARAMETER],
        responses={"200": {"description": "The effect's image or sound"}},
    )
    def get(self, session_id: uuid.UUID, effect_id: uuid.UUID) -> Response:
        """An uploaded effect's image or sound, for the overlay of a session that can play it"""
        token = _access(session_id)
        live = sessions.get_session(session=db(), org_id=token.org_id, session_id=session_id)
        found = triggers.overlay_asset(session=db(), live=live, effect_id=effect_id)
        details: dict[str, Any] = found.details or {}
        mimetype = IMAGE_TYPES.get(details.get("format", "")) or SOUND_TYPES.get(
            details.get("format", ""), "application/octet-stream"
        )
        key = found.storage_key
        db().close()
        store = storage(platform().settings)

        def chunks() -> Iterator[bytes]:
            with store.open(key) as source:
                while chunk := source.read(CHUNK_BYTES):
                    yield chunk

        return Response(
            stream_with_context(chunks()),
            mimetype=mimetype,
            headers={**NO_REFERRER, "Cache-Control": "private, max-age=3600"},
        )


# -- the overlay page ------------------------------------------------------------------------
page_blp = FlaskBlueprint(
    "live_overlay_page",
    __name__,
    url_prefix="/live",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "media-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
    )
)


@page_blp.get("/overlay/<uuid:session_id>")
def overlay(session_id: uuid.UUID) -> Response:
    """The overlay page: transparent, it plays the session's effects in order. Its token is
    checked by the stream it opens, not here, so the page holds no data and no secret."""
    response = Response(render_template("overlay.html", session_id=session_id))
    response.headers.update(
        {
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        }
    )
    return response
