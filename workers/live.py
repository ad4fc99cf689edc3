"""The live domain's job kinds: `live.check_effect` reads an uploaded effect's bytes (an
image or a sound, its size and length) before it can be triggered; `live.end_idle_sessions`
ends every stream session left active without a trigger for LIVE_SESSION_IDLE_S, and tells
its overlays (their streams get `session_ended`).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from typing import Any

from marshmallow import Schema, fields

from models.live import effects as library
from models.live import sessions
from models.live.media import check_asset
from workers.core.changes import announce_after_commit
from workers.core.context import JobContext
from workers.core.errors import PermanentError
from workers.core.periodic import periodic
from workers.core.registry import job_kind
from workers.core.storage import CHUNK_BYTES, storage


def session_channel(session_id: uuid.UUID | str) -> str:
    """The change-feed channel on which a session's new log entries are announced."""
    return f"live:session:{session_id}"


class CheckEffectParams(Schema):
    effect_id = fields.UUID(required=True)


@job_kind(
    "live.check_effect",
    params=CheckEffectParams,
    queue="live",
    max_attempts=3,
    time_limit_ms=2 * 60 * 1000,
)
def check_effect(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Check an uploaded effect's asset: an image or a sound, its size and length."""
    if ctx.org_id is None:
        raise PermanentError("effect checks run for an organisation")
    org_id, effect_id = ctx.org_id, uuid.UUID(str(params["effect_id"]))
    with ctx.sessions.begin() as session:
        found = library.get_upload(session=session, org_id=org_id, effect_id=effect_id)
        key, size = found.storage_key, found.size_bytes
    ctx.progress(0, 1, "checking")
    # A local copy: the readers seek, and an object store's stream does not.
    with tempfile.TemporaryFile() as copy, storage(ctx.settings).open(key) as source:
        shutil.copyfileobj(source, copy, CHUNK_BYTES)
        copy.seek(0)
        problem, details = check_asset(
            copy, size_bytes=size, max_bytes=ctx.settings.live_max_effect_bytes
        )
    with ctx.sessions.begin() as session:
        library.record_check(
            session=session, org_id=org_id, effect_id=effect_id, problem=problem, details=details
        )
    return {"passed": problem is None, "problem": problem, **details}


@periodic("live.end_idle_sessions", every_s=300, queue="live", time_limit_ms=5 * 60 * 1000)
def end_idle_sessions(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """End the stream sessions left active without a trigger for LIVE_SESSION_IDLE_S."""
    ended = 0
    while True:
        with ctx.sessions.begin() as session:
            idle = sessions.idle_sessions(session=session, idle_s=ctx.settings.live_session_idle_s)
            for org_id, session_id in idle:
                sessions.end_session(
                    session=session, org_id=org_id, session_id=session_id, reason="idle"
                )
            announce_after_commit(session, [session_channel(s) for _, s in idle])
        ended += len(idle)
        if len(idle) < 1000:
            return {"ended": ended}
