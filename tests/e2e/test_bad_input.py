"""Bad input over real HTTP, to gunicorn: bodies framed without a Content-Length (chunked),
which the test client cannot send as a server hands them over, and a lone surrogate."""

from __future__ import annotations

import contextlib
import json
import socket
from typing import Any

import pytest

from tests.e2e.stack import Stack


def post_chunked(stack: Stack, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST `body` in 64 KiB chunks over a raw socket; the status and the JSON answer."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", stack.port), timeout=30) as conn:
        # The server may answer and close before it has read all of a refused body.
        with contextlib.suppress(OSError):
            conn.sendall(head + framed)
        answer = b""
        while data := conn.recv(65536):
            answer += data
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(payload)


@pytest.mark.e2e
def test_chunked_and_unencodable_bodies_get_a_4xx_in_the_one_shape(api: Stack) -> None:
    shape = {"code", "message", "details", "request_id"}
    depth = 50_000
    deep = b'{"email": "a@example.com", "password": ' + b"[" * depth + b"]" * depth + b"}"
    big = b'{"email": "a@example.com", "password": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    fine = b'{"email": "nobody@example.com", "password": "wrong password"}'
    surrogate = b'{"refresh_token": "\\ud800"}'

    answers = {
        "deep": post_chunked(api, "/api/v1/auth/login", deep),
        "big": post_chunked(api, "/api/v1/auth/login", big),
        "fine": post_chunked(api, "/api/v1/auth/login", fine),
        "surrogate": post_chunked(api, "/api/v1/auth/refresh", surrogate),
    }

    assert {name: status for name, (status, _) in answers.items()} == {
        "deep": 400,
        "big": 413,
        "fine": 401,
        "surrogate": 422,
    }
    assert all(set(body) == shape for _, body in answers.values())
    assert "nests deeper" in answers["deep"][1]["message"]
    assert "refresh_token" in answers["surrogate"][1]["details"]["fields"]
