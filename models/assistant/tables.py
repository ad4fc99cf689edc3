"""The assistant's tables: the conversation (one per organisation: the artist), each reply's
pieces as the model wrote them, and what onboarding learnt about the artist."""

from __future__ import annotations

import enum
import uuid
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, now_ts, timestamp


class Role(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


class ReplyStatus(enum.StrEnum):
    """A message's state: a user's message is `complete` when stored; a reply is `pending`
    until its job writes the first piece, `streaming` while it writes, then `complete`, or
    `fallback` when the model could not answer and a plain reply says so."""

    PENDING = "pending"
    STREAMING = "streaming"
    COMPLETE = "complete"
    FALLBACK = "fallback"

    @property
    def finished(self) -> bool:
        return self in (ReplyStatus.COMPLETE, ReplyStatus.FALLBACK)


class ChunkKind(enum.StrEnum):
    TEXT = "text"  # a piece of the reply, in order
    TOOL = "tool"  # the assistant looked a figure up (the tool's name and arguments)
    RESET = "reset"  # a retried attempt starts the reply again: what came before is void
    DONE = "done"  # the reply is stored whole (written with it): the stream ends


class Message(Base):
    """One message of an organisation's conversation with its assistant."""

    __tablename__ = "assistant_messages"
    __table_args__ = (
        Index("ix_assistant_messages_org_id_created_at", "org_id", "created_at", "id"),
        CheckConstraint("role IN ('user', 'assistant')", name="role"),
        CheckConstraint(
            "status IN ('pending', 'streaming', 'complete', 'fallback')", name="status"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    # Who asked (a reply carries its question's asker); None once their account is erased.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    role: Mapped[str] = mapped_column(String(10))
    content: Mapped[str] = mapped_column(Text, server_default="")
    html: Mapped[str] = mapped_column(Text, server_default="")  # the content rendered, sanitised
    status: Mapped[str] = mapped_column(String(10))
    # A reply's question; a user's message its reply.
    reply_to: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # A reply's: what context it was given, the tools it called, the model, the tokens.
    meta: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=sql("'{}'::jsonb"))
    created_at: Mapped[now_ts]
    completed_at: Mapped[timestamp | None]


class Chunk(Base):
    """A piece of a reply as the model wrote it: what a reply's stream sends, in `seq` order,
    resumable from any piece (the SSE id)."""

    __tablename__ = "assistant_chunks"

    message_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("assistant_messages.id", ondelete="CASCADE"),
        primary_key=True,
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text, server_default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Profile(Base):
    """What the assistant knows about the artist from onboarding, and where onboarding is."""

    __tablename__ = "assistant_profiles"

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[str] = mapped_column(String(20))  # the question awaiting an answer, or "done"
    answers: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=sql("'{}'::jsonb"))
    started_at: Mapped[now_ts]
    completed_at: Mapped[timestamp | None]
    updated_at: Mapped[now_ts]
