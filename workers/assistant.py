"""The assistant's job kind: `assistant.reply` writes the reply to a user's message.

While onboarding is not over, the reply is onboarding's next question (no model is asked).
Afterwards the model (workers/clients/openai.py, streamed) is given the artist's own data as
context (models/assistant/context.py), the last few turns, the question, and tools that look
figures up with the domains' own queries. Each piece of text it writes is stored and
announced as it comes (the reply's stream sends it at once); tool calls are answered and the
model asked again, up to `assistant_max_tool_rounds` times. The whole reply is then stored with
its sanitised HTML and what it was made from, and its tokens counted against the
organisation's monthly OpenAI budget (shared with the lead search: models/leads/spending.py).

When the model fails, a transient failure (429, 5xx, a timeout) is tried again later, after
the SDK's own retries; on the last attempt, or at once when trying again cannot help, the
reply is a plain fallback saying so (status `fallback`), and the question stays in the
history. A retried attempt that had begun to write starts the reply again: its stream says
`reset` first. A spent budget gets a fallback reply too, with no model asked.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from models import assistant, leads
from models.assistant import ChunkKind, ReplyStatus
from models.core.errors import NotFound
from workers.clients.openai import ModelUnavailable, stream_chat
from workers.core.changes import announce_after_commit
from workers.core.context import JobContext
from workers.core.errors import PermanentError, TransientError
from workers.core.registry import job_kind

MAX_ATTEMPTS = 3
SYSTEM_PROMPT = (
    "You are the assistant of a music artist using Backline. Answer their questions about "
    "their career, earnings, releases and fans from the data below (theirs only) and from "
    "the tools. Never invent a figure: when a question needs one that the data below does "
    "not hold, call a tool; give amounts exactly as the data or the tool gives them, with "
    "their currency. Be brief and practical. Use light Markdown (paragraphs, **bold**, "
    "lists)."
)
FALLBACK_UNAVAILABLE = (
    "Sorry, I can't reach the model right now, so I can't answer this one. Your message is "
    "kept: ask again in a few minutes."
)
FALLBACK_BUDGET = (
    "Sorry, your organization has used this month's AI budget, so I can't answer until it "
    "resets ({resets_at}). Your message is kept."
)


def reply_channel(reply_id: uuid.UUID | str) -> str:
    """The channel a reply's new pieces are announced on (web/assistant.py follows it)."""
    return f"assistant:reply:{reply_id}"


class ReplyParams(Schema):
    message_id = fields.UUID(required=True, metadata={"description": "The reply to write."})


class Writer:
    """Writes a reply's pieces, each committed and announced as it comes."""

    def __init__(self, ctx: JobContext, reply: assistant.Message) -> None:
        self.ctx, self.reply_id, self.org_id = ctx, reply.id, reply.org_id
        self.pieces: list[str] = []
        with ctx.sessions() as session:  # an earlier attempt's pieces stay: go on after them
            self.seq = assistant.last_seq(session=session, message_id=reply.id)

    def _chunk(
        self, session: Session, kind: ChunkKind, text: str = "", data: dict[str, Any] | None = None
    ) -> None:
        self.seq += 1
        assistant.add_chunk(
            session=session, message_id=self.reply_id, seq=self.seq, kind=kind, text=text, data=data
        )

    def add(self, kind: ChunkKind, text: str = "", data: dict[str, Any] | None = None) -> None:
        with self.ctx.sessions.begin() as session:
            assistant.commit_without_waiting_for_disk(session)
            self._chunk(session, kind, text, data)
            announce_after_commit(session, [reply_channel(self.reply_id)])
        if kind is ChunkKind.TEXT:
            self.pieces.append(text)

    def text(self, piece: str) -> None:
        self.add(ChunkKind.TEXT, piece)

    def finish(self, content: str, meta: dict[str, Any], *, fallback: bool = False) -> None:
        with self.ctx.sessions.begin() as session:
            self.finish_in(session, content, meta, fallback=fallback)

    def finish_in(
        self, session: Session, content: str, meta: dict[str, Any], *, fallback: bool = False
    ) -> None:
        """Store the whole reply in the caller's transaction (announced once it commits)."""
        if fallback or not self.pieces:  # the whole text as one piece, for the stream
            if self.pieces:
                self._chunk(session, ChunkKind.RESET)
            self._chunk(session, ChunkKind.TEXT, content)
        assistant.finish_reply(
            session=session,
            message_id=self.reply_id,
            content=content,
            meta=meta,
            fallback=fallback,
        )
        tokens = int(meta.get("prompt_tokens", 0)) + int(meta.get("completion_tokens", 0))
        leads.record_spending(session=session, org_id=self.org_id, tokens=tokens)
        announce_after_commit(session, [reply_channel(self.reply_id)])


def _load(ctx: JobContext, reply_id: uuid.UUID) -> tuple[assistant.Message, assistant.Message]:
    if ctx.org_id is None:
        raise PermanentError("assistant replies are written for an organisation")
    with ctx.sessions() as session:
        try:
            reply = assistant.message_of(session=session, org_id=ctx.org_id, message_id=reply_id)
            if reply.role != assistant.Role.ASSISTANT or reply.reply_to is None:
                raise NotFound("not a reply")
            question = assistant.message_of(
                session=session, org_id=ctx.org_id, message_id=reply.reply_to
            )
        except NotFound as exc:  # another organisation's id is as unknown as a missing one
            raise PermanentError(f"no reply {reply_id} in this organization") from exc
        session.expunge_all()
        return reply, question


def _onboarding(ctx: JobContext, writer: Writer, question: assistant.Message) -> bool:
    """Answer the message as onboarding does, if onboarding is not over; whether it did."""
    with ctx.sessions.begin() as session:  # the step moves on with its reply, or neither
        if assistant.is_onboarded(assistant.profile_of(session=session, org_id=question.org_id)):
            return False
        turn = assistant.answer(session=session, org_id=question.org_id, text=question.content)
        writer.finish_in(session, turn.reply, {"onboarding": {"completed": turn.completed}})
    return True


def _conversation(
    ctx: JobContext, question: assistant.Message
) -> tuple[list[dict[str, Any]], assistant.Context]:
    settings = ctx.settings
    with ctx.sessions() as session:
        context = assistant.assemble(
            session=session,
            org_id=question.org_id,
            budget_tokens=settings.assistant_context_tokens,
        )
        history = assistant.recent_turns(
            session=session,
            org_id=question.org_id,
            before=question,
            turns=settings.assistant_history_turns,
        )
    system = f"{SYSTEM_PROMPT}\n\nThe artist's data (JSON):\n{context.prompt()}"
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    messages += [{"role": m.role, "content": m.content} for m in history]
    messages.append({"role": "user", "content": question.content})
    return messages, context


def _budget_left(ctx: JobContext, org_id: uuid.UUID, wanted: int) -> str | None:
    """None when `wanted` tokens fit this month's budget, else when it resets."""
    with ctx.sessions() as session:
        try:
            leads.check_budget(session=session, org_id=org_id, tokens=wanted)
        except leads.BudgetExceeded as exc:
            return str(exc.details.get("resets_at", "next month"))
    return None


def _ask(
    ctx: JobContext, writer: Writer, messages: list[dict[str, Any]], org_id: uuid.UUID
) -> dict[str, Any]:
    """Ask the model, answering its tool calls; what the reply was made from."""
    settings = ctx.settings
    model = settings.assistant_model or settings.openai_model
    used = {"prompt_tokens": 0, "completion_tokens": 0}
    called: list[dict[str, Any]] = []
    for round_ in range(settings.assistant_max_tool_rounds + 1):
        offered = assistant.TOOLS if round_ < settings.assistant_max_tool_rounds else []
        answer = stream_chat(
            settings,
            model=model,
            messages=messages,
            tools=offered,
            max_tokens=settings.assistant_max_reply_tokens,
            on_text=writer.text,
        )
        used["prompt_tokens"] += answer.prompt_tokens
        used["completion_tokens"] += answer.completion_tokens
        if not answer.tool_calls:
            break
        messages.append(
            {
                "role": "assistant",
                "content": answer.text or None,
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    }
                    for c in answer.tool_calls
                ],
            }
        )
        for call in answer.tool_calls:
            writer.add(ChunkKind.TOOL, data={"name": call.name, "arguments": call.arguments})
            with ctx.sessions() as session:
                result = assistant.run_tool(
                    session=session, org_id=org_id, name=call.name, arguments=call.arguments
                )
            called.append({"name": call.name, "arguments": call.arguments, "result": result})
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
            )
    return {"model": model, "tools": called, **used}


@job_kind(
    "assistant.reply",
    params=ReplyParams,
    queue="assistant",
    requires_verified_email=True,
    max_attempts=MAX_ATTEMPTS,
    time_limit_ms=3 * 60 * 1000,
    min_backoff_ms=2000,
    max_backoff_ms=30_000,
)
def write_reply(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Write the assistant's reply to a message, streamed as the model writes it."""
    reply, question = _load(ctx, params["message_id"])
    done = {"message_id": str(question.id), "reply_id": str(reply.id)}
    if ReplyStatus(reply.status).finished:  # a repeated delivery: written already
        return {**done, "status": reply.status}
    writer = Writer(ctx, reply)
    if reply.status == ReplyStatus.STREAMING:  # an earlier attempt began: start again
        writer.add(ChunkKind.RESET)
    if _onboarding(ctx, writer, question):
        return {**done, "status": ReplyStatus.COMPLETE.value, "onboarding": True}
    messages, context = _conversation(ctx, question)
    estimate = sum(assistant.estimate_tokens(str(m["content"])) for m in messages)
    resets_at = _budget_left(
        ctx, question.org_id, estimate + ctx.settings.assistant_max_reply_tokens
    )
    if resets_at is not None:
        meta = {"context": context.meta(), "reason": "budget_exceeded"}
        writer.finish(FALLBACK_BUDGET.format(resets_at=resets_at), meta, fallback=True)
        return {**done, "status": ReplyStatus.FALLBACK.value, "reason": "budget_exceeded"}
    try:
        made = _ask(ctx, writer, messages, question.org_id)
    except ModelUnavailable as exc:
        if exc.transient and ctx.attempt < MAX_ATTEMPTS:
            raise TransientError(f"the model did not answer: {exc}") from exc
        meta = {"context": context.meta(), "reason": "model_unavailable", "error": str(exc)}
        writer.finish(FALLBACK_UNAVAILABLE, meta, fallback=True)
        return {**done, "status": ReplyStatus.FALLBACK.value, "reason": "model_unavailable"}
    writer.finish("".join(writer.pieces), {"context": context.meta(), **made})
    return {
        **done,
        "status": ReplyStatus.COMPLETE.value,
        "tokens": made["prompt_tokens"] + made["completion_tokens"],
    }
