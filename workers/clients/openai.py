"""OpenAI chat completions with structured output, through the official SDK.

`structured()` asks for an answer shaped by a JSON schema (`response_format` json_schema,
strict) and validates what comes back against the same schema, since a model that is not
strict (or an API that only looks like OpenAI's) can still answer with something else. The
SDK retries what is worth retrying (timeouts, lost connections, 408/409/429/5xx), honouring
Retry-After. When the first model still fails, or answers outside the schema, the fallback
model (OPENAI_FALLBACK_MODEL) is asked once in the same way. Failing both is a
TransientError when either failure was transient (the job is tried again later), otherwise a
PermanentError (a refused key or request: trying again cannot help).

`stream_chat()` (the assistant) asks for a streamed answer, with tools the model may call:
each piece of text goes to a callback as it arrives, tool calls are put together from their
pieces, and the usage comes in the stream's last chunk (`stream_options.include_usage`).

OPENAI_BASE_URL points it at any server speaking the API (devstack/fakes/openai.py locally).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
import openai

from config import Settings
from workers.core.errors import PermanentError, TransientError

log = logging.getLogger("backline.clients.openai")


@dataclass(frozen=True)
class Structured:
    """A validated answer, the model that gave it and the tokens it cost (every attempt's)."""

    data: dict[str, Any]
    model: str
    prompt_tokens: int
    completion_tokens: int


class OffSchema(Exception):
    """The model answered, but not with JSON that fits the schema."""


def _client(settings: Settings) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=settings.openai_api_key or "unset",
        base_url=settings.openai_base_url,
        timeout=settings.openai_timeout_s,
        max_retries=settings.openai_max_retries,
    )


def _transient(exc: Exception) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # timeouts too
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def _ask(
    client: openai.OpenAI,
    model: str,
    messages: list[dict[str, str]],
    name: str,
    schema: dict[str, Any],
    used: list[int],
) -> dict[str, Any]:
    completion = client.chat.completions.create(  # type: ignore[call-overload]
        model=model,
        messages=messages,
        temperature=0.7,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": name, "strict": True, "schema": schema},
        },
    )
    if completion.usage is not None:
        used[0] += completion.usage.prompt_tokens
        used[1] += completion.usage.completion_tokens
    choice = completion.choices[0]
    if choice.message.refusal:
        raise OffSchema(f"the model refused: {choice.message.refusal}")
    if choice.finish_reason != "stop":
        raise OffSchema(f"the answer stopped early ({choice.finish_reason})")
    try:
        data = json.loads(choice.message.content or "")
        jsonschema.validate(data, schema)
    except (ValueError, jsonschema.ValidationError) as exc:
        raise OffSchema(f"the answer does not fit the schema: {str(exc)[:300]}") from exc
    if not isinstance(data, dict):
        raise OffSchema("the answer is not a JSON object")
    return data


def structured(
    settings: Settings, *, messages: list[dict[str, str]], name: str, schema: dict[str, Any]
) -> Structured:
    """Ask the configured model (then the fallback) for an answer fitting `schema`."""
    models = list(
        dict.fromkeys(m for m in (settings.openai_model, settings.openai_fallback_model) if m)
    )
    used = [0, 0]
    failures: list[tuple[str, Exception]] = []
    with _client(settings) as client:
        for model in models:
            try:
                data = _ask(client, model, messages, name, schema, used)
            except (openai.OpenAIError, OffSchema) as exc:
                log.warning("model failed", extra={"model": model, "error": type(exc).__name__})
                failures.append((model, exc))
                continue
            return Structured(data, model, used[0], used[1])
    summary = "; ".join(
        f"{model}: {type(exc).__name__}: {str(exc)[:200]}" for model, exc in failures
    )
    if any(_transient(exc) or isinstance(exc, OffSchema) for _, exc in failures):
        raise TransientError(f"no model answered: {summary}")
    raise PermanentError(f"no model answered: {summary}")


# -- streamed chat with tools (the assistant) ----------------------------------------------
@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON, as the model wrote it


@dataclass(frozen=True)
class Streamed:
    """One streamed answer: its text, the tools it calls, and what it cost."""

    text: str
    tool_calls: list[ToolCall]
    finish_reason: str | None
    model: str
    prompt_tokens: int
    completion_tokens: int


class ModelUnavailable(Exception):
    """The model did not answer (after the SDK's retries); `transient` says whether trying
    again later may help."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def stream_chat(
    settings: Settings,
    *,
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    max_tokens: int,
    on_text: Callable[[str], None],
) -> Streamed:
    """Ask for a chat completion, streamed: `on_text` gets each piece of text as it comes;
    tool calls are gathered from their pieces; the usage comes in the stream's last chunk
    (`stream_options.include_usage`). Errors, before or during the stream, and a stream that
    ends with no finish reason (cut short), are ModelUnavailable."""
    text: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    finish: str | None = None
    usage = (0, 0)
    try:
        with _client(settings) as client:
            stream = client.chat.completions.create(  # type: ignore[call-overload]
                model=model,
                messages=messages,
                tools=tools or openai.omit,
                max_completion_tokens=max_tokens,
                temperature=0.7,
                stream=True,
                stream_options={"include_usage": True},
            )
            with stream:
                for chunk in stream:
                    if chunk.usage is not None:
                        usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    for choice in chunk.choices:
                        delta = choice.delta
                        if delta.content:
                            text.append(delta.content)
                            on_text(delta.content)
                        for call in delta.tool_calls or ():
                            into = calls.setdefault(call.index, {"id": "", "name": "", "args": ""})
                            into["id"] = call.id or into["id"]
                            if call.function is not None:
                                into["name"] += call.function.name or ""
                                into["args"] += call.function.arguments or ""
                        finish = choice.finish_reason or finish
    except openai.OpenAIError as exc:
        log.warning("model failed", extra={"model": model, "error": type(exc).__name__})
        raise ModelUnavailable(
            f"{type(exc).__name__}: {str(exc)[:300]}", transient=_transient(exc)
        ) from exc
    if finish is None:  # the connection ended mid-answer: what came is not the whole answer
        log.warning("stream cut short", extra={"model": model})
        raise ModelUnavailable("the answer's stream ended before the answer did", transient=True)
    return Streamed(
        text="".join(text),
        tool_calls=[
            ToolCall(c["id"], c["name"], c["args"]) for _, c in sorted(calls.items()) if c["name"]
        ],
        finish_reason=finish,
        model=model,
        prompt_tokens=usage[0],
        completion_tokens=usage[1],
    )
