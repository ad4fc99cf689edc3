"""The live API's helpers: an organisation on a tier, a started session, an overlay link,
and a reader of event streams that never end by themselves."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from models.core.quotas import Tier
from models.live.effects import BUILT_INS
from tests.api.conftest import Caller
from tests.conftest import org_of
from tests.sse import sse as parse

LIVE = "/api/v1/live"
EFFECTS = {e.animation: str(e.id) for e in BUILT_INS}  # built-ins by animation


def on_tier(session: Session, who: Caller, tier: Tier) -> uuid.UUID:
    """Put `who`'s organisation on `tier`; its id."""
    org_id = org_of(session, who.user.id)
    session.execute(
        text("UPDATE organizations SET tier = :tier WHERE id = :id"),
        {"tier": tier.value, "id": org_id},
    )
    session.commit()
    return org_id


def start(client: FlaskClient, who: Caller, platform: str = "twitch", **body: Any) -> Any:
    answer = client.post(
        f"{LIVE}/sessions",
        json={"platform": platform, "title": "Friday stream", **body},
        headers=who.headers,
    )
    assert answer.status_code == 201, answer.json
    return answer.json


def trigger(
    client: FlaskClient, who: Caller, session_id: str, animation: str = "confetti", **extra: Any
) -> Any:
    headers = dict(who.headers)
    if "key" in extra:
        headers["Idempotency-Key"] = extra.pop("key")
    return client.post(
        f"{LIVE}/sessions/{session_id}/effects",
        json={"effect_id": EFFECTS[animation], **extra},
        headers=headers,
    )


def overlay_link(client: FlaskClient, who: Caller, session_id: str) -> Any:
    answer = client.post(
        f"{LIVE}/sessions/{session_id}/overlays", json={"label": "main scene"}, headers=who.headers
    )
    assert answer.status_code == 201, answer.json
    return answer.json


class Stream:
    """An event stream read as it comes, as an overlay would, and dropped at will."""

    def __init__(self, client: FlaskClient, path: str, **headers: str) -> None:
        self.response = client.get(path, headers=headers, buffered=False)
        self._chunks = iter(self.response.response)
        self._buffer = b""
        self.ended = False

    @property
    def status_code(self) -> int:
        return self.response.status_code

    def take(self, count: int) -> list[dict[str, Any]]:
        """The next `count` events (blocking until they come)."""
        found: list[dict[str, Any]] = []
        while len(found) < count:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                self.ended = True
                break
            complete, _, self._buffer = self._buffer.rpartition(b"\n\n")
            found += parse(complete)
        return found

    def rest(self) -> list[dict[str, Any]]:
        """Every event until the stream ends by itself."""
        found = self.take(10**6)
        return found + parse(self._buffer)

    def drop(self) -> None:
        self.response.close()
