"""What the two streams of a session's log share: where a (re)connection starts."""

from __future__ import annotations

from typing import Any

from models.core.errors import InvalidInput
from models.core.fields import BIGINT_MAX
from models.live.tables import LiveSession, SessionStatus
from web.core.streams import last_event_id

_MAX_DIGITS = len(str(BIGINT_MAX))  # 19: a log's seq is a bigint
_EVENT_STREAM = {"text/event-stream": {"schema": {"type": "string"}}}
STREAM_DOC: dict[str, Any] = {
    "parameters": [
        {
            "in": "header",
            "name": "Last-Event-ID",
            "schema": {"type": "string", "maxLength": 20},
            "description": "Resume after this entry of the log (EventSource sends it on "
            "reconnecting): exactly the entries missed are sent.",
        },
        {
            "in": "query",
            "name": "last_event_id",
            "schema": {"type": "string", "maxLength": 20},
            "description": "The same, for a first request that cannot set headers.",
        },
    ],
    "responses": {"200": {"description": "text/event-stream", "content": _EVENT_STREAM}},
}


def resume_cursor(live: LiveSession) -> int | None:
    """The log entry a stream starts after: the Last-Event-ID, else the latest (a new overlay
    plays what is triggered from now on). None when the session has ended and the client
    has every entry: 204, and EventSource stops reconnecting. A Last-Event-ID that is not a
    seq this API could have sent is refused (422 validation_failed), as the job streams do:
    starting from the latest instead would hide a client's bug as a silent gap."""
    raw = last_event_id()
    if raw is None:
        cursor = live.last_seq
    else:
        # Length first: int() of more than 4300 digits raises ValueError, not a 4xx.
        if (
            len(raw) > _MAX_DIGITS
            or not raw.isascii()
            or not raw.isdigit()
            or int(raw) > BIGINT_MAX
        ):
            raise InvalidInput(
                "Last-Event-ID is not an entry of this session's log",
                details={"fields": {"Last-Event-ID": ["invalid"]}},
            )
        cursor = min(int(raw), live.last_seq)
    if live.status == SessionStatus.ENDED and cursor >= live.last_seq:
        return None
    return cursor
