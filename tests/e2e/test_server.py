"""What the real server answers before the app sees a request: JSON in the one error shape."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.e2e.stack import Stack


def raw(stack: Stack, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def assert_error_shape(body: bytes, code: str) -> None:
    error = httpx.Response(200, content=body).json()
    assert error["code"] == code
    assert set(error) == {"code", "message", "details", "request_id"}


@pytest.mark.e2e
def test_the_servers_own_refusals_are_json_in_the_one_error_shape(api: Stack) -> None:
    long_uri = httpx.get(f"{api.url}/{'a' * 5000}")
    assert long_uri.status_code == 414
    assert long_uri.headers["content-type"] == "application/json"
    assert_error_shape(long_uri.content, "uri_too_long")

    big_header = httpx.get(f"{api.url}/healthz", headers={"X-Big": "b" * 9000})
    assert big_header.status_code == 431
    assert_error_shape(big_header.content, "header_fields_too_large")

    status, headers, body = raw(api, b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n")
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert_error_shape(body, "bad_request")

    assert httpx.get(f"{api.url}/healthz").status_code == 200  # and it goes on serving
