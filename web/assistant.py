"""/api/v1/assistant: the artist's AI assistant.

POST /messages stores the message and answers 202 with it, its reply-to-be, the
`assistant.reply` job that writes the reply and the reply's stream URL. The stream
(server-sent events, web/core/streams.py) sends each piece of the reply as the model writes it
(`event: delta`, `id:` the piece's number: reconnecting with Last-Event-ID goes on after it),
`event: tool` when the assistant looks a figure up, `event: reset` when a retried attempt
starts the reply again, and `event: done` with the whole stored reply (no id: reconnecting
after it sends it again), then closes. Polling
the job, or GET /messages/<id>, works as well. History is a page newest first; /context shows
what the assistant knows; /onboarding starts onboarding again. Every id is the caller's
organisation's: another's answers 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, g, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from models import assistant, leads
from models.core.errors import InvalidInput
from web.core import limits
from web.core.auth import BEARER, auth_required, current_org_id, current_viewer
from web.core.context import db, platform
from web.core.fields import BigInt, Text
from web.core.job_schemas import JobRead
from web.core.streams import Batch, Message, last_event_id, stream
from workers.assistant import reply_channel
from workers.core import enqueue, registry

blp = Blueprint(
    "assistant",
    __name__,
    url_prefix="/api/v1/assistant",
    description="The artist's AI assistant: answers from your own data, streamed.",
)
_EVENT_STREAM = {"text/event-stream": {"schema": {"type": "string"}}}


# -- schemas ---------------------------------------------------------------------------------
class MessageCreate(Schema):
    content = Text(required=True, validate=validate.Length(min=1, max=assistant.MAX_MESSAGE_CHARS))


class MessageRead(Schema):
    id = fields.UUID(required=True)
    role = Text(required=True, metadata={"description": "user or assistant"})
    content = Text(required=True, metadata={"description": "As written (a reply: once done)."})
    html = Text(required=True, metadata={"description": "The content as sanitised HTML."})
    status = Text(
        required=True,
        metadata={"description": "pending, streaming, complete, or fallback (not the model's)"},
    )
    reply_to = fields.UUID(
        allow_none=True, metadata={"description": "A reply's question; a question's reply."}
    )
    job_id = fields.UUID(allow_none=True)
    meta = fields.Dict(
        required=True,
        metadata={"description": "A reply's context (included, summarised, cut), tools, tokens."},
    )
    created_at = fields.DateTime(required=True)
    completed_at = fields.DateTime(allow_none=True)


class MessageSent(Schema):
    message = fields.Nested(MessageRead, required=True)
    reply = fields.Nested(MessageRead, required=True)
    job = fields.Nested(JobRead, required=True)
    stream_url = Text(required=True, metadata={"description": "The reply, as it is written."})


class PageQuery(Schema):
    cursor = Text(validate=validate.Length(max=200))
    limit = BigInt(load_default=20, validate=validate.Range(min=1, max=100))


class MessagePage(Schema):
    items = fields.List(fields.Nested(MessageRead), required=True)
    next_cursor = Text(allow_none=True)


class OnboardingRead(Schema):
    status = Text(required=True, metadata={"description": "not_started, in_progress, complete"})
    step = Text(allow_none=True, metadata={"description": "The question awaiting an answer."})
    answers = fields.Dict(required=True)
    completed_at = fields.DateTime(allow_none=True)


class BudgetRead(Schema):
    tokens_used = BigInt(required=True)
    tokens_budget = BigInt(allow_none=True, metadata={"description": "null: unlimited."})
    resets_at = fields.DateTime(required=True)


class ContextRead(Schema):
    onboarding = fields.Nested(OnboardingRead, required=True)
    data = fields.Dict(required=True, metadata={"description": "What the model is given."})
    included = fields.List(Text(), required=True)
    summarised = fields.List(Text(), required=True)
    cut = fields.List(Text(), required=True)
    tokens = BigInt(required=True)
    budget_tokens = BigInt(required=True)
    openai_budget = fields.Nested(
        BudgetRead,
        required=True,
        metadata={"description": "This month's OpenAI tokens, shared with the lead search."},
    )


class OnboardingRestarted(Schema):
    onboarding = fields.Nested(OnboardingRead, required=True)
    message = fields.Nested(MessageRead, required=True)


# -- the reply's stream ------------------------------------------------------------------------
_EVENTS = {
    assistant.ChunkKind.TEXT: "delta",
    assistant.ChunkKind.TOOL: "tool",
    assistant.ChunkKind.RESET: "reset",
}
_MESSAGE_READ = MessageRead()


class ReplyFeed:
    """A reply's pieces past a cursor (their number), then the whole reply once it is done."""

    def __init__(self, org_id: uuid.UUID, reply_id: uuid.UUID) -> None:
        self.org_id, self.reply_id = org_id, reply_id
        self.channel = reply_channel(reply_id)

    def read(self, cursor: int) -> Batch[int]:
        # One query while the reply is written: its last piece says when it is done (the
        # stored reply is then read once, for the `done` event).
        chunks = assistant.chunks_after(session=db(), message_id=self.reply_id, seq=cursor)
        messages = [
            Message(
                {"text": c.text} if c.kind == assistant.ChunkKind.TEXT else (c.data or {}),
                event=_EVENTS[assistant.ChunkKind(c.kind)],
                id=str(c.seq),
            )
            for c in chunks
            if c.kind != assistant.ChunkKind.DONE
        ]
        done = bool(chunks) and chunks[-1].kind == assistant.ChunkKind.DONE
        if done:
            reply = assistant.message_of(session=db(), org_id=self.org_id, message_id=self.reply_id)
            # No id: a client that reconnects after it gets it again, whole.
            messages.append(Message(_MESSAGE_READ.dump(reply), event="done"))
            chunks = chunks[:-1]
        return Batch(messages, chunks[-1].seq if chunks else cursor, done)

    def resume_id(self, cursor: int) -> str | None:
        return None  # its pieces carry their ids


def _resume_after() -> int:
    """The piece a reconnecting client had last (0: from the start)."""
    resume = last_event_id()
    if resume is None:
        return 0
    if not resume.isascii() or not resume.isdigit() or len(resume) > 9:
        raise InvalidInput(
            "Last-Event-ID is not one of this stream's ids",
            details={"fields": {"Last-Event-ID": ["not a piece number"]}},
        )
    return int(resume)


# -- views -----------------------------------------------------------------------------------
@blp.route("/messages")
class Messages(MethodView):
    @limits.per_user("rate_limit_assistant_messages")
    @blp.arguments(MessageCreate)
    @blp.response(202, MessageSent)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Ask the assistant: stores your message and starts writing the reply (202)"""
        viewer = current_viewer()
        kind = registry.kind_for("assistant.reply", viewer)
        asked, reply = assistant.send_message(
            session=db(), org_id=current_org_id(), user_id=viewer.user_id, content=body["content"]
        )
        job, _ = enqueue.submit(
            session=db(),
            dispatcher=platform().dispatcher,
            owner_id=viewer.user_id,
            org_id=asked.org_id,
            kind=kind,
            params={"message_id": str(reply.id)},
            request_id=g.request_id,
        )
        asked.job_id = reply.job_id = job.id
        db().commit()
        stream_url = url_for("assistant.ReplyStream", message_id=reply.id)
        location = url_for("jobs.JobItem", job_id=job.id)
        sent = {"message": asked, "reply": reply, "job": job, "stream_url": stream_url}
        return sent, 202, {"Location": location}

    @limits.per_user("rate_limit_assistant_read")
    @blp.arguments(PageQuery, location="query")
    @blp.response(200, MessagePage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Your organization's conversation with the assistant, newest first"""
        items, cursor = assistant.list_messages(
            session=db(), org_id=current_org_id(), cursor=query.get("cursor"), limit=query["limit"]
        )
        return {"items": items, "next_cursor": cursor}


@blp.route("/messages/<uuid:message_id>")
class MessageItem(MethodView):
    @limits.per_user("rate_limit_assistant_read")
    @blp.response(200, MessageRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, message_id: uuid.UUID) -> assistant.Message:
        """One message: a reply's status, and its text once done"""
        return assistant.message_of(session=db(), org_id=current_org_id(), message_id=message_id)


@blp.route("/messages/<uuid:message_id>/stream")
class ReplyStream(MethodView):
    @blp.doc(
        security=BEARER,
        parameters=[
            {
                "in": "header",
                "name": "Last-Event-ID",
                "schema": {"type": "string", "maxLength": 50},
                "description": "Resume after this piece (EventSource sends it on reconnecting).",
            },
            {
                "in": "query",
                "name": "last_event_id",
                "schema": {"type": "string", "maxLength": 50},
                "description": "The same, for a first request that cannot set headers.",
            },
        ],
        responses={"200": {"description": "text/event-stream", "content": _EVENT_STREAM}},
    )
    @auth_required
    def get(self, message_id: uuid.UUID) -> Response:
        """Follow a reply as the model writes it, until it is done (SSE)"""
        org_id = current_org_id()
        after = _resume_after()
        assistant.message_of(session=db(), org_id=org_id, message_id=message_id)  # 404 first
        return stream(ReplyFeed(org_id, message_id), after, current_viewer().user_id)


def _context() -> dict[str, Any]:
    org_id = current_org_id()
    settings = platform().settings
    context = assistant.assemble(
        session=db(), org_id=org_id, budget_tokens=settings.assistant_context_tokens
    )
    spent = leads.spending_of(session=db(), org_id=org_id)
    profile = assistant.profile_of(session=db(), org_id=org_id)
    return {
        "onboarding": assistant.onboarding_state(profile),
        "data": context.as_json(),
        **context.meta(),
        "openai_budget": {
            "tokens_used": spent.tokens,
            "tokens_budget": spent.budget.tokens,
            "resets_at": spent.resets_at,
        },
    }


@blp.route("/context")
class ContextView(MethodView):
    @limits.per_user("rate_limit_assistant_read")
    @blp.response(200, ContextRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self) -> dict[str, Any]:
        """What the assistant knows: onboarding's answers and your data as it is given"""
        return _context()


@blp.route("/onboarding")
class Onboarding(MethodView):
    @limits.per_user("rate_limit_assistant_messages")
    @blp.response(200, OnboardingRestarted)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self) -> dict[str, Any]:
        """Start onboarding again: the assistant asks its first question anew"""
        org_id = current_org_id()
        question = assistant.restart(session=db(), org_id=org_id)
        message = assistant.add_assistant_message(
            session=db(), org_id=org_id, content=question, meta={"onboarding": {"restarted": True}}
        )
        db().commit()
        profile = assistant.profile_of(session=db(), org_id=org_id)
        return {"onboarding": assistant.onboarding_state(profile), "message": message}


blueprints = [blp]
