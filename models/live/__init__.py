"""The live domain: stream sessions, their event logs, the effects library and its
triggers, overlay links, brand kits, and the tier rules that decide what each may use.

Other domains use it through this module: `session_of` tells whether a session id is an
organisation's (e.g. for metrics recorded per session).
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from models.live.sessions import get_session
from models.live.tables import LiveSession
from models.live.tiers import TIER_RULES, LiveRules, TierRequired


def session_of(*, session: Session, org_id: uuid.UUID, session_id: uuid.UUID) -> LiveSession:
    """The organisation's stream session (NotFound for any other)."""
    return get_session(session=session, org_id=org_id, session_id=session_id)


__all__ = ["TIER_RULES", "LiveRules", "LiveSession", "TierRequired", "session_of"]
