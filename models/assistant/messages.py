"""The conversation: a user's message and its reply are stored together when the message is
sent; the reply is written piece by piece as the model writes it (`add_chunk`, each in its own
short transaction so the stream can send it at once), then finished with its whole text, its
sanitised HTML and what it was made from, and a last piece saying it is done
(`finish_reply`). History is a page newest first."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from models.assistant.render import to_html
from models.assistant.tables import Chunk, ChunkKind, Message, ReplyStatus, Role
from models.core.base import utcnow
from models.core.errors import NotFound
from models.core.pages import newest_first

MAX_MESSAGE_CHARS = 4000
CHUNKS_PER_READ = 500


def send_message(
    *, session: Session, org_id: uuid.UUID, user_id: uuid.UUID, content: str
) -> tuple[Message, Message]:
    """Store a user's message and its reply-to-be (pending); both flushed, not committed."""
    asked = Message(
        id=uuid.uuid4(),
        org_id=org_id,
        user_id=user_id,
        role=Role.USER.value,
        content=content,
        html=to_html(content),
        status=ReplyStatus.COMPLETE.value,
        completed_at=utcnow(),
        created_at=func.clock_timestamp(),
    )
    session.add(asked)
    session.flush()
    reply = Message(
        id=uuid.uuid4(),
        org_id=org_id,
        user_id=user_id,
        role=Role.ASSISTANT.value,
        status=ReplyStatus.PENDING.value,
        reply_to=asked.id,
        # The clock, not the transaction's start: after its question, in history's order.
        created_at=func.clock_timestamp(),
    )
    asked.reply_to = reply.id
    session.add(reply)
    session.flush()
    return asked, reply


def add_assistant_message(
    *, session: Session, org_id: uuid.UUID, content: str, meta: dict[str, Any]
) -> Message:
    """A message of the assistant's own, complete at once (onboarding's first question)."""
    message = Message(
        id=uuid.uuid4(),
        org_id=org_id,
        role=Role.ASSISTANT.value,
        content=content,
        html=to_html(content),
        status=ReplyStatus.COMPLETE.value,
        meta=meta,
        completed_at=utcnow(),
        created_at=func.clock_timestamp(),
    )
    session.add(message)
    session.flush()
    return message


def message_of(*, session: Session, org_id: uuid.UUID, message_id: uuid.UUID) -> Message:
    """The organisation's message; NotFound for another organisation's."""
    message = session.scalar(
        select(Message)
        .where(Message.id == message_id, Message.org_id == org_id)
        .execution_options(populate_existing=True)
    )
    if message is None:
        raise NotFound("no such message", details={"message_id": str(message_id)})
    return message


def list_messages(
    *, session: Session, org_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Message], str | None]:
    return newest_first(
        session=session,
        query=select(Message).where(Message.org_id == org_id),
        created_at=Message.created_at,
        row_id=Message.id,
        cursor=cursor,
        limit=limit,
    )


def recent_turns(
    *, session: Session, org_id: uuid.UUID, before: Message, turns: int
) -> list[Message]:
    """The last `turns` finished messages before `before`, oldest first (the model's history);
    fallback replies are left out: they are not the model's words."""
    rows = session.scalars(
        select(Message)
        .where(
            Message.org_id == org_id,
            Message.created_at <= before.created_at,
            Message.id != before.id,
            Message.status == ReplyStatus.COMPLETE.value,
            Message.content != "",
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(turns)
    )
    return list(reversed(list(rows)))


def last_seq(*, session: Session, message_id: uuid.UUID) -> int:
    """The number of a reply's last piece (0: none yet)."""
    return session.scalar(select(func.max(Chunk.seq)).where(Chunk.message_id == message_id)) or 0


def add_chunk(
    *,
    session: Session,
    message_id: uuid.UUID,
    seq: int,
    kind: ChunkKind,
    text: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """Append piece number `seq` (the writer counts them) to a reply: it is streaming now."""
    session.add(Chunk(message_id=message_id, seq=seq, kind=kind.value, text=text, data=data))
    if seq == 1:
        session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(status=ReplyStatus.STREAMING.value)
        )
    session.flush()


def commit_without_waiting_for_disk(session: Session) -> None:
    """Let this transaction's commit return before its WAL is on disk (synchronous_commit
    off, for this transaction only). For a piece of a reply being written, worth less than a
    flush to disk: a crash may lose the last pieces, never a finished reply (its job, tried
    again, writes it anew)."""
    session.execute(sql("SET LOCAL synchronous_commit = off"))


def chunks_after(*, session: Session, message_id: uuid.UUID, seq: int) -> list[Chunk]:
    return list(
        session.scalars(
            select(Chunk)
            .where(Chunk.message_id == message_id, Chunk.seq > seq)
            .order_by(Chunk.seq)
            .limit(CHUNKS_PER_READ)
        )
    )


def finish_reply(
    *,
    session: Session,
    message_id: uuid.UUID,
    content: str,
    meta: dict[str, Any],
    fallback: bool = False,
) -> Message:
    seq = last_seq(session=session, message_id=message_id) + 1
    session.add(Chunk(message_id=message_id, seq=seq, kind=ChunkKind.DONE.value))
    reply = session.get_one(Message, message_id)
    reply.content = content
    reply.html = to_html(content)
    reply.meta = {**meta, "fallback": fallback}
    reply.status = (ReplyStatus.FALLBACK if fallback else ReplyStatus.COMPLETE).value
    reply.completed_at = utcnow()
    session.flush()
    return reply
