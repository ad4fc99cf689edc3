"""Server-sent event streams of anything the platform announces (workers/core/changes.py).

A stream follows a `Feed`: the channel its changes are announced on, and how to read what is
new past a cursor. The stream sends what is new at once, then waits on the channel and reads
again each time something is announced there (and every heartbeat, in case a notice was
lost); between reads it holds no database connection and no thread (config/server.py). It
sends a comment line every STREAM_HEARTBEAT_S when there is nothing to say, so proxies and
clients know it is alive, and ends when the feed says it is done. Every message that can be
resumed from carries an `id:`; a client that reconnects with it as `Last-Event-ID` (browsers'
EventSource does so by itself) goes on from there.

The job streams (web/core/job_streams.py) are built on it; a domain streams its own channel
by publishing on it after its commits (ChangeFeed.publish_channels) and writing a Feed.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from flask import Response, request, stream_with_context

from web.core.auth import still_signed_in
from web.core.context import db, platform
from web.core.waits import Slot, wait_slots

C = TypeVar("C")
# Reads woken by announcements are at least this far apart: a burst of changes (a thousand jobs
# of an organisation finishing) makes a few reads of each stream, not one per change; a change
# after a quiet spell is read at once.
MIN_READ_INTERVAL_S = 0.05
# How long a browser waits before it reconnects (the `retry:` line).
RECONNECT_MS = 2000
SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: pass each message on as it comes
}


@dataclass(frozen=True)
class Message:
    """One server-sent event."""

    data: Any
    event: str | None = None
    id: str | None = None

    def encode(self) -> bytes:
        lines = []
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.event is not None:
            lines.append(f"event: {self.event}")
        # JSON has no raw line breaks: one data line.
        lines.append("data: " + json.dumps(self.data, separators=(",", ":")))
        return ("\n".join(lines) + "\n\n").encode()


@dataclass(frozen=True)
class Batch(Generic[C]):
    """What one read of a feed found: the messages, the cursor after them, and whether the
    stream is over (the last message then says so)."""

    messages: list[Message]
    cursor: C
    done: bool = False


class Feed(Protocol[C]):
    @property
    def channel(self) -> str:
        """The change-feed channel on which what this feed reads is announced."""
        ...

    def read(self, cursor: C) -> Batch[C]:
        """What is new past `cursor`, read through the request's session (`db()`)."""
        ...

    def resume_id(self, cursor: C) -> str | None:
        """An `id:` to resume from `cursor` (None: the feed's messages carry theirs)."""
        ...


def last_event_id() -> str | None:
    """The client's Last-Event-ID: the header (EventSource's reconnection), or `?last_event_id`
    for a client that cannot set headers on its first request."""
    return request.headers.get("Last-Event-ID") or request.args.get("last_event_id") or None


def stream(
    feed: Feed[C],
    cursor: C,
    user_id: Any,
    *,
    still_allowed: Callable[[], bool] = still_signed_in,
    max_waits: int | None = None,
) -> Response:
    """The streaming response that follows `feed` from `cursor`.

    Each stream holds one of the user's wait slots (web/core/waits.py). Past the cap the
    stream sends what is new now, asks the client to come back later (`retry:` and
    Retry-After) and ends: the client's EventSource reconnects from where it got to.

    A stream opened without a user's token (an overlay's link, say) names what its slots are
    counted under as `user_id`, its own cap as `max_waits`, and what it asks at each heartbeat
    instead of `still_signed_in`.
    """
    if request.method == "HEAD":  # the headers only: nothing to follow, no slot to hold
        return Response(mimetype="text/event-stream", headers=SSE_HEADERS)
    settings = platform().settings
    heartbeat_s = settings.stream_heartbeat_s
    lease_s = 2 * heartbeat_s + 30
    slot = wait_slots().take(user_id, lease_s, cap=max_waits)
    if slot is None:
        batch = feed.read(cursor)
        retry_s = max(1, int(heartbeat_s))
        body = f"retry: {retry_s * 1000}\n\n".encode() + b"".join(
            m.encode() for m in batch.messages
        )
        body += _resume_line(feed, batch.cursor)
        response = Response(body, mimetype="text/event-stream", headers=SSE_HEADERS)
        response.headers["Retry-After"] = str(retry_s)
        return response
    response = Response(
        stream_with_context(_follow(feed, cursor, slot, heartbeat_s, lease_s, still_allowed)),
        mimetype="text/event-stream",
        headers=SSE_HEADERS,
    )
    # Also when the body is never read: the slot must not wait for its lease.
    response.call_on_close(slot.release)
    return response


def _resume_line(feed: Feed[C], cursor: C) -> bytes:
    """An id-only event: EventSource takes it as where to resume, and dispatches nothing."""
    resume = feed.resume_id(cursor)
    return f"id: {resume}\n\n".encode() if resume is not None else b""


def _follow(
    feed: Feed[C],
    cursor: C,
    slot: Slot,
    heartbeat_s: float,
    lease_s: float,
    still_allowed: Callable[[], bool],
) -> Iterator[bytes]:
    try:
        yield f"retry: {RECONNECT_MS}\n\n".encode() + _resume_line(feed, cursor)
        db().close()  # the view's reads are done: no connection held while subscribing
        with platform().changes.watch_channel(feed.channel) as announced:
            # Each stream's first heartbeat comes at its own moment: streams opened together
            # (a reconnecting crowd) must not all read and write together ever after.
            said_at = time.monotonic() - random.uniform(0, heartbeat_s / 2)  # noqa: S311
            renewed_at = checked_at = time.monotonic()
            woken_read_at = float("-inf")
            while True:
                batch = feed.read(cursor)
                db().close()  # no connection held while waiting
                cursor = batch.cursor
                if batch.messages:
                    yield b"".join(m.encode() for m in batch.messages)
                    said_at = time.monotonic()
                if batch.done:
                    return
                now = time.monotonic()
                if now - checked_at >= heartbeat_s:
                    # A token that expired, a session that ended, a member who left: the
                    # stream ends (EventSource reconnects, and meets authentication again).
                    checked_at = now
                    if not still_allowed():
                        return
                    db().close()
                if now - renewed_at >= heartbeat_s:  # busy or quiet, the slot is kept
                    renewed_at = now
                    slot.renew(lease_s)
                quiet_s = heartbeat_s - (now - said_at)
                if quiet_s > 0 and announced.wait(quiet_s):
                    time.sleep(max(0.0, woken_read_at + MIN_READ_INTERVAL_S - time.monotonic()))
                    woken_read_at = time.monotonic()
                    announced.clear()  # what was announced meanwhile, the next read sees
                    continue
                if time.monotonic() - said_at >= heartbeat_s:
                    yield b": keep-alive\n\n"
                    said_at = time.monotonic()
    finally:
        slot.release()
