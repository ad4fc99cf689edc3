"""A stand-in for OpenAI's chat completions API (`POST /v1/chat/completions`).

It answers as the API does: a `chat.completion` object with `usage`, or a `chat.completion.chunk`
stream when `stream` is true; with `response_format` json_schema, content that fits the schema
(built from the schema, its strings taken from the request's words). Errors come in the API's
shape (`{"error": {message, type, param, code}}`), and a test scripts them in order with
`app.script` ("429" answers with Retry-After, "500", "slow" sleeps past a short timeout,
"offschema" answers JSON that does not fit). A model whose name starts with "broken" always
answers 500. `app.requests` keeps every request body.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from devstack.fakes import Fake

SLOW_S = 3.0


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
        return self._answer(body, offschema=step == "offschema")

    def _answer(self, body: dict[str, Any], *, offschema: bool) -> Response:
        words = _words(body["messages"])
        response_format = body.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            data = example(response_format["json_schema"]["schema"], words)
            content = json.dumps({"unexpected": True} if offschema else data)
        else:
            content = " ".join(words[:20])
        prompt = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": len(content.split()),
            "total_tokens": prompt + len(content.split()),
        }
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        headers = {"x-request-id": f"req_{uuid.uuid4().hex}"}
        if body.get("stream"):
            return Response(
                self._stream(completion_id, created, body["model"], content, usage),
                200,
                headers,
                mimetype="text/event-stream",
            )
        answer = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": body["model"],
            "usage": usage,
            "choices": [
                {
                    "index": 0,
                    "logprobs": None,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content, "refusal": None},
                }
            ],
        }
        return Response(json.dumps(answer), 200, headers, mimetype="application/json")

    @staticmethod
    def _stream(
        completion_id: str, created: int, model: str, content: str, usage: dict[str, int]
    ) -> Iterable[str]:
        def chunk(delta: dict[str, Any], finish: str | None, **extra: Any) -> str:
            data = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(data)}\n\n"

        yield chunk({"role": "assistant", "content": ""}, None)
        for start in range(0, len(content), 20):
            yield chunk({"content": content[start : start + 20]}, None)
        yield chunk({}, "stop", usage=usage)
        yield "data: [DONE]\n\n"


FAKE = Fake(
    name="OpenAI",
    base_url_variable="OPENAI_BASE_URL",
    key_variable="OPENAI_API_KEY",
    create_app=FakeOpenAI,
    path="/v1",
)
