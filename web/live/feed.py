"""A session's log as a server-sent event stream (web/core/streams.py), for overlays and
dashboards alike.

A trigger is announced on the session's channel after its commit; every stream of that
session, in every API process, wakes and reads what is past its cursor. A thousand overlays
of one session must not make a thousand reads: each process keeps the latest entries of each
session it streams (`Tails`), already encoded, and one read of the database serves every
stream woken by the same announcement. The rule that keeps this exact: a stream is served
from the cache only by a read that began after the stream asked, so it sees every commit
announced before it asked. A reconnection from an older Last-Event-ID than the cache holds
reads its gap from the database itself.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

from flask import Flask, current_app

from models.live import log
from models.live.tables import EventType, LiveEvent
from web.core.context import db
from web.core.streams import Batch, Message
from web.live.schemas import LiveEventRead
from workers.live import session_channel

EXTENSION = "backline.live_tails"
KEEP = 256  # entries kept per session
SESSIONS = 10_000  # sessions kept per process (the least recently read go first)
PAGES = 20  # pages of the log one read takes at most
_READ = LiveEventRead()


@dataclass(frozen=True)
class Encoded(Message):
    """A message encoded once, sent as the same bytes on every stream."""

    raw: bytes = b""

    def encode(self) -> bytes:
        return self.raw

    @classmethod
    def of(cls, event: LiveEvent) -> Encoded:
        message = Message(_READ.dump(log.event_fields(event)), event=event.type, id=str(event.seq))
        return cls(message.data, message.event, message.id, message.encode())


@dataclass
class _Tail:
    lock: threading.Lock = field(default_factory=threading.Lock)
    entries: list[Encoded] = field(default_factory=list)  # consecutive, oldest first
    last_seq: int = 0
    read_at: float = float("-inf")  # when the latest read of the database began


def _seq(message: Message) -> int:
    return int(message.id or 0)


class Tails:
    """The latest entries of each session this process streams."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tails: OrderedDict[uuid.UUID, _Tail] = OrderedDict()

    def _tail(self, session_id: uuid.UUID, cursor: int) -> _Tail:
        with self._lock:
            tail = self._tails.get(session_id)
            if tail is None:  # starts where its first reader is: no history is read for it
                tail = self._tails[session_id] = _Tail(last_seq=cursor)
                while len(self._tails) > SESSIONS:
                    self._tails.popitem(last=False)
            else:
                self._tails.move_to_end(session_id)
            return tail

    def after(self, session_id: uuid.UUID, cursor: int) -> list[Encoded]:
        """The session's entries past `cursor`, as committed when this was asked."""
        asked_at = time.monotonic()
        tail = self._tail(session_id, cursor)
        with tail.lock:
            if tail.read_at < asked_at:
                tail.read_at = time.monotonic()
                new = _read(session_id, tail.last_seq)
                if new:
                    tail.entries = (tail.entries + new)[-KEEP:]
                    tail.last_seq = _seq(new[-1])
            first = _seq(tail.entries[0]) if tail.entries else tail.last_seq + 1
            if cursor + 1 >= first:
                return [m for m in tail.entries if _seq(m) > cursor]
        return _read(session_id, cursor)  # an older gap than the cache holds


def _read(session_id: uuid.UUID, after: int) -> list[Encoded]:
    found: list[Encoded] = []
    for _ in range(PAGES):
        page = log.events_after(session=db(), session_id=session_id, after=after)
        found += [Encoded.of(e) for e in page]
        if len(page) < log.PAGE:
            break
        after = page[-1].seq
    return found


class SessionFeed:
    """A session's log from a cursor on (a `Feed`). An overlay's feed (`token_id` set) leaves
    out other links' revocations and ends when its own link is revoked; every feed ends with
    the session's `session_ended`."""

    def __init__(self, session_id: uuid.UUID, token_id: uuid.UUID | None = None) -> None:
        self.session_id, self.token_id = session_id, token_id
        self.channel = session_channel(session_id)

    def read(self, cursor: int) -> Batch[int]:
        messages: list[Message] = []
        for entry in tails().after(self.session_id, cursor):
            if entry.event == EventType.TOKEN_REVOKED and self.token_id is not None:
                if entry.data["token_id"] == str(self.token_id):
                    return Batch(messages, cursor, done=True)
                cursor = _seq(entry)
                continue
            messages.append(entry)
            cursor = _seq(entry)
            if entry.event == EventType.SESSION_ENDED:
                return Batch(messages, cursor, done=True)
        return Batch(messages, cursor)

    def resume_id(self, cursor: int) -> str | None:
        return str(cursor)


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = Tails()


def tails() -> Tails:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]
