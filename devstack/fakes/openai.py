"""A stand-in for OpenAI's chat completions API (`POST /v1/chat/completions`).

It answers as the API does: a `chat.completion` object with `usage`, or a `chat.completion.chunk`
stream when `stream` is true (usage in a last chunk with no choices when
`stream_options.include_usage` is set); with `response_format` json_schema, content that fits
the schema (built from the schema, its strings taken from the request's words). Offered
`tools`, it calls the one a question asks for (the wallet, top tracks, fans by country: see
_WANTS), and once the tools' answers are in the conversation it replies with their figures,
exactly. Errors come in the API's shape (`{"error": {message, type, param, code}}`), and a
test scripts answers in order with `app.script` ("429" answers with Retry-After, "500",
"slow" sleeps past a short timeout, "cut" ends a stream after its first piece (no finish
reason, no [DONE]), "offschema" answers JSON that does not fit, "say:<text>"
answers that text, "tool:<name>:<arguments>" calls that tool). A model whose name starts with
"broken" always answers 500. `app.requests` keeps every request body; `app.chunk_delay_s`
slows a stream between pieces and `app.first_token_delay_s` before its first piece;
`app.first_token_at` records when each stream's first piece of content was sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from devstack.fakes import Fake

SLOW_S = 3.0
CHUNK_CHARS = 20  # a streamed answer's pieces


def _error(status: int, message: str, kind: str, code: str | None, **headers: str) -> Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return Response(json.dumps(body), status, headers, mimetype="application/json")


def _words(messages: list[dict[str, Any]]) -> list[str]:
    text = " ".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
    return re.findall(r"[A-Za-z][A-Za-z-]{2,}", text) or ["business"]


def example(schema: dict[str, Any], words: list[str], index: int = 0) -> Any:
    """A value fitting `schema` (the subset strict structured output allows)."""
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        return {
            name: example(sub, words, i)
            for i, (name, sub) in enumerate(schema.get("properties", {}).items())
        }
    if kind == "array":
        count = max(schema.get("minItems", 0), min(3, schema.get("maxItems", 3)))
        return [example(schema.get("items", {}), words, index + i) for i in range(count)]
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    start = index % len(words)
    return " ".join((words[start:] + words[:start])[:4])


class FakeOpenAI:
    def __init__(self) -> None:
        self.script: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.chunk_delay_s = 0.0  # between a streamed answer's pieces: a model writing slowly
        self.first_token_delay_s = 0.0  # before the first piece: a model thinking first
        self.first_token_at: list[float] = []  # perf_counter() as each stream's first piece went
        self._lock = threading.Lock()

    def _next(self, model: str) -> str:
        if model.startswith("broken"):
            return "500"
        with self._lock:
            return self.script.pop(0) if self.script else "ok"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        if request.method != "POST" or request.path != "/v1/chat/completions":
            return _error(
                404,
                f"Unknown request URL: {request.method} {request.path}",
                "invalid_request_error",
                "unknown_url",
            )
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return _error(401, "You didn't provide an API key.", "invalid_request_error", None)
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or "model" not in body or "messages" not in body:
            return _error(400, "'model' and 'messages' are required", "invalid_request_error", None)
        with self._lock:
            self.requests.append(body)
        step = self._next(body["model"])
        if step == "429":
            return _error(
                429,
                "Rate limit reached for requests",
                "requests",
                "rate_limit_exceeded",
                **{"retry-after-ms": "10", "retry-after": "1"},
            )
        if step == "500":
            return _error(
                500, "The server had an error while processing your request.", "server_error", None
            )
        if step == "slow":
            time.sleep(SLOW_S)
        return self._answer(body, step)

    def _answer(self, body: dict[str, Any], step: str) -> Response:
        words = _words(body["messages"])
        response_format = body.get("response_format") or {}
        calls: list[dict[str, Any]] = []
        if response_format.get("type") == "json_schema":
            data = example(response_format["json_schema"]["schema"], words)
            content = json.dumps({"unexpected": True} if step == "offschema" else data)
        elif step.startswith("say:"):
            content = step.removeprefix("say:")
        elif step.startswith("tool:"):
            name, _, arguments = step.removeprefix("tool:").partition(":")
            calls, content = [_call(name, arguments or "{}")], ""
        else:
            calls = _tool_calls(body)
            content = "" if calls else _reply(body["messages"], words)
        prompt = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        produced = len(content.split()) + sum(len(c["function"]["arguments"]) // 4 for c in calls)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": produced,
            "total_tokens": prompt + produced,
        }
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        headers = {"x-request-id": f"req_{uuid.uuid4().hex}"}
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            answer = _Answer(completion_id, created, body["model"], content, calls, usage)
            return Response(
                self._stream(answer, include_usage=include_usage, cut=step == "cut"),
                200,
                headers,
                mimetype="text/event-stream",
            )
        message: dict[str, Any] = {"role": "assistant", "content": content or None, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        answer_body = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": body["model"],
            "usage": usage,
            "choices": [
                {
                    "index": 0,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if calls else "stop",
                    "message": message,
                }
            ],
        }
        return Response(json.dumps(answer_body), 200, headers, mimetype="application/json")

    def _stream(self, answer: _Answer, *, include_usage: bool, cut: bool) -> Iterable[str]:
        """The chunks as the API sends them: the role first, then the content in pieces (or
        each tool call: its id and name, then its arguments in pieces), then the finish
        reason; with `stream_options.include_usage`, every chunk has `usage: null` and a last
        one, with no choices, has the usage."""

        def chunk(delta: dict[str, Any] | None, finish: str | None = None) -> str:
            data: dict[str, Any] = {
                "id": answer.completion_id,
                "object": "chat.completion.chunk",
                "created": answer.created,
                "model": answer.model,
                "system_fingerprint": "fp_fake",
                "choices": []
                if delta is None
                else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                data["usage"] = answer.usage if delta is None else None
            return f"data: {json.dumps(data)}\n\n"

        yield chunk({"role": "assistant", "content": "", "refusal": None})
        for start in range(0, len(answer.content), CHUNK_CHARS):
            if start and self.chunk_delay_s:
                time.sleep(self.chunk_delay_s)
            piece = answer.content[start : start + CHUNK_CHARS]
            if start == 0:
                if self.first_token_delay_s:
                    time.sleep(self.first_token_delay_s)
                self.first_token_at.append(time.perf_counter())
            yield chunk({"content": piece})
            if cut:  # the connection ends mid-answer: no finish reason, no [DONE]
                return
        for index, call in enumerate(answer.calls):
            head = {"index": index, "id": call["id"], "type": "function"}
            yield chunk(
                {
                    "tool_calls": [
                        {**head, "function": {"name": call["function"]["name"], "arguments": ""}}
                    ]
                }
            )
            arguments = call["function"]["arguments"]
            for start in range(0, len(arguments), CHUNK_CHARS):
                part = {"arguments": arguments[start : start + CHUNK_CHARS]}
                yield chunk({"tool_calls": [{"index": index, "function": part}]})
        yield chunk({}, "tool_calls" if answer.calls else "stop")
        if include_usage:
            yield chunk(None)
        yield "data: [DONE]\n\n"


@dataclass(frozen=True)
class _Answer:
    completion_id: str
    created: int
    model: str
    content: str
    calls: list[dict[str, Any]]
    usage: dict[str, int]


def _call(name: str, arguments: str) -> dict[str, Any]:
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


# What a question asks for, by its words, and the tool (with arguments) that answers it.
_WANTS: tuple[tuple[re.Pattern[str], str, dict[str, Any]], ...] = (
    (re.compile(r"\b(wallet|balance|withdraw)", re.I), "wallet_balance", {}),
    (
        re.compile(r"\btop tracks?|best.{0,20}tracks?", re.I),
        "top_tracks",
        {"days": None, "limit": 5},
    ),
    (re.compile(r"\bfans?\b.*\bcountr|countr.*\bfans?\b", re.I), "fans_by_country", {"limit": 5}),
)


def _tool_calls(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The calls a model would make: the offered tool a question asks for, unless the
    conversation already has the tools' answers (then the model writes its reply)."""
    offered = {t.get("function", {}).get("name") for t in body.get("tools") or []}
    messages = body["messages"]
    if not offered or not messages or messages[-1].get("role") != "user":
        return []
    question = str(messages[-1].get("content", ""))
    return [
        _call(name, json.dumps(args))
        for pattern, name, args in _WANTS
        if name in offered and pattern.search(question)
    ]


def _figures(value: Any, path: str = "") -> Iterable[str]:
    """A tool's answer as `path: value` lines (every figure it holds, as it holds it)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _figures(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _figures(item, f"{path}[{index}]")
    else:
        yield f"{path}: {value}"


def _reply(messages: list[dict[str, Any]], words: list[str]) -> str:
    """A plain answer: after tool calls, their figures, exactly; otherwise the question's words."""
    tail = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        tail.append(message)
    if not tail:
        return " ".join(words[:20])
    lines: list[str] = []
    for message in reversed(tail):
        try:
            lines.extend(f"- {line}" for line in _figures(json.loads(message.get("content") or "")))
        except ValueError:
            lines.append(f"- {message.get('content')}")
    return "Here is what your data says:\n\n" + "\n".join(lines)


FAKE = Fake(
    name="OpenAI",
    base_url_variable="OPENAI_BASE_URL",
    key_variable="OPENAI_API_KEY",
    create_app=FakeOpenAI,
    path="/v1",
)
