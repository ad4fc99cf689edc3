"""A stand-in for NeverBounce's single check (`GET /v4/single/check`).

It answers as NeverBounce does, failures included, with HTTP 200: `{"status": "success",
"result": ..., "flags": [...], "suggested_correction": "", "execution_time": n}`, or
`{"status": "auth_failure" | "throttle_triggered" | ..., "message": ...}`. The result comes from
the address: a local part starting with "bad" is invalid, "catch" catchall, "unknown" unknown,
a mailinator.com domain disposable, anything else valid. A test scripts failures in order with
`app.script` ("throttle", "general", "500"); `app.checked` lists the addresses asked about.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from devstack.fakes import Fake

KEY = "fake-neverbounce-key"


def result_for(email: str) -> str:
    local, _, domain = email.lower().partition("@")
    if domain == "mailinator.com":
        return "disposable"
    for prefix, result in (("bad", "invalid"), ("catch", "catchall"), ("unknown", "unknown")):
        if local.startswith(prefix):
            return result
    return "valid"


class FakeNeverBounce:
    def __init__(self) -> None:
        self.script: list[str] = []
        self.checked: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        def answer(body: dict[str, Any], status: int = 200) -> Response:
            return Response(json.dumps(body), status, mimetype="application/json")

        if request.path != "/v4/single/check":
            return answer({"status": "general_failure", "message": "Unknown endpoint"}, 404)
        with self._lock:
            step = self.script.pop(0) if self.script else "ok"
        if step == "500":
            return Response("Internal Server Error", 500)
        if step == "throttle":
            return answer(
                {
                    "status": "throttle_triggered",
                    "message": "Too many requests",
                    "execution_time": 3,
                }
            )
        if step == "general":
            return answer(
                {
                    "status": "general_failure",
                    "message": "Something went wrong",
                    "execution_time": 3,
                }
            )
        if request.args.get("key") != KEY:
            return answer(
                {"status": "auth_failure", "message": "Invalid API key", "execution_time": 2}
            )
        email = request.args.get("email", "")
        with self._lock:
            self.checked.append(email)
        return answer(
            {
                "status": "success",
                "result": result_for(email),
                "flags": ["has_dns"],
                "suggested_correction": "",
                "execution_time": 120,
            }
        )


FAKE = Fake(
    name="NeverBounce",
    base_url_variable="NEVERBOUNCE_BASE_URL",
    key_variable="NEVERBOUNCE_API_KEY",
    create_app=FakeNeverBounce,
    env={"NEVERBOUNCE_API_KEY": KEY},
    path="/v4",
)
