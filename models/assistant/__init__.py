"""The assistant domain: an organisation's conversation with its AI assistant, the replies as
they were written, onboarding, and the context and tools the model answers from (the
organisation's own data, read through the revenue and fans domains' public functions).

Other domains use what is exported here."""

from models.assistant import people  # noqa: F401 - registers what it holds about people
from models.assistant.context import Context, Part, assemble, estimate_tokens, fit
from models.assistant.messages import (
    CHUNKS_PER_READ,
    MAX_MESSAGE_CHARS,
    add_assistant_message,
    add_chunk,
    chunks_after,
    commit_without_waiting_for_disk,
    finish_reply,
    last_seq,
    list_messages,
    message_of,
    recent_turns,
    send_message,
)
from models.assistant.onboarding import (
    STEPS,
    Turn,
    answer,
    is_onboarded,
    onboarding_state,
    profile_of,
    restart,
)
from models.assistant.render import to_html
from models.assistant.tables import Chunk, ChunkKind, Message, Profile, ReplyStatus, Role
from models.assistant.tools import TOOLS, run_tool

__all__ = [
    "CHUNKS_PER_READ",
    "MAX_MESSAGE_CHARS",
    "STEPS",
    "TOOLS",
    "Chunk",
    "ChunkKind",
    "Context",
    "Message",
    "Part",
    "Profile",
    "ReplyStatus",
    "Role",
    "Turn",
    "add_assistant_message",
    "add_chunk",
    "answer",
    "assemble",
    "chunks_after",
    "commit_without_waiting_for_disk",
    "estimate_tokens",
    "finish_reply",
    "fit",
    "is_onboarded",
    "last_seq",
    "list_messages",
    "message_of",
    "onboarding_state",
    "profile_of",
    "recent_turns",
    "restart",
    "run_tool",
    "send_message",
    "to_html",
]
