"""Overlay links: a read-only token per overlay, in the URL an OBS browser source loads
(it cannot send headers).

A token opens one session's overlay stream and that session's uploaded assets, nothing else:
it is not a JWT, so the API's authentication never takes it, and it names its session, so
another session's stream refuses it. Only its SHA-256 is stored; it is shown once, when made.
Revoking one writes `token_revoked` to the session's log, so the streams open on it end at
once, not at their next check.
"""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.core.base import digest, utcnow
from models.core.errors import AuthenticationFailed, Conflict, LimitReached, NotFound
from models.live import tiers
from models.live.log import append
from models.live.sessions import lock_session
from models.live.tables import EventType, OverlayToken, SessionStatus

PREFIX = "ovl_"


class LinkStreamsFull(LimitReached):
    """This overlay link has as many streams open as it may; one must close first."""

    code = "overlay_link_streams_full"


def create_token(
    *, session: Session, org_id: uuid.UUID, session_id: uuid.UUID, label: str
) -> tuple[OverlayToken, str]:
    """A new overlay token of the session, and the token itself (shown this once)."""
    live = lock_session(session=session, org_id=org_id, session_id=session_id)
    if live.status != SessionStatus.ACTIVE:
        raise Conflict("the session has ended", details={"session_id": str(session_id)})
    tier, rules = tiers.rules_of(session=session, org_id=org_id)
    live_tokens = session.scalar(
        select(func.count()).where(
            OverlayToken.session_id == live.id, OverlayToken.revoked_at.is_(None)
        )
    )
    if (live_tokens or 0) >= rules.overlays_per_session:
        raise tiers.more_needed(
            feature="overlays_per_session",
            what="overlay links per session",
            tier=tier,
            count=rules.overlays_per_session,
        )
    raw = PREFIX + secrets.token_urlsafe(32)
    token = OverlayToken(
        session_id=live.id, org_id=org_id, token_hash=digest(raw), label=label, created_at=utcnow()
    )
    session.add(token)
    session.flush()
    return token, raw


def list_tokens(
    *, session: Session, org_id: uuid.UUID, session_id: uuid.UUID
) -> list[OverlayToken]:
    return list(
        session.scalars(
            select(OverlayToken)
            .where(OverlayToken.session_id == session_id, OverlayToken.org_id == org_id)
            .order_by(OverlayToken.created_at)
        )
    )


def revoke_token(
    *, session: Session, org_id: uuid.UUID, session_id: uuid.UUID, token_id: uuid.UUID
) -> OverlayToken:
    live = lock_session(session=session, org_id=org_id, session_id=session_id)
    token = session.scalar(
        select(OverlayToken).where(OverlayToken.id == token_id, OverlayToken.session_id == live.id)
    )
    if token is None:
        raise NotFound("no overlay link with this id", details={"token_id": str(token_id)})
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        append(
            session=session,
            live=live,
            type=EventType.TOKEN_REVOKED,
            data={"token_id": str(token.id)},
        )
    return token


def overlay_access(*, session: Session, session_id: uuid.UUID, raw: str | None) -> OverlayToken:
    """The live token `raw` of this session; AuthenticationFailed for any other string."""
    refused = AuthenticationFailed(
        "this overlay link is not valid for this session, or was revoked: "
        "make a new one (POST /api/v1/live/sessions/<id>/overlays)"
    )
    if not raw or not raw.startswith(PREFIX) or len(raw) > 100:
        raise refused
    token = session.scalar(
        select(OverlayToken).where(
            OverlayToken.token_hash == digest(raw),
            OverlayToken.session_id == session_id,
            OverlayToken.revoked_at.is_(None),
        )
    )
    if token is None:
        raise refused
    return token


def token_live(*, session: Session, token_id: uuid.UUID) -> bool:
    """Whether the token is still unrevoked (a long stream asks now and then)."""
    return bool(
        session.scalar(
            select(func.count()).where(
                OverlayToken.id == token_id, OverlayToken.revoked_at.is_(None)
            )
        )
    )
