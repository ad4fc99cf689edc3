"""NeverBounce's single-address check (`GET /v4/single/check?key=&email=`), through httpx.

NeverBounce reports its own failures with HTTP 200 and `status` other than "success"
(`auth_failure`, `throttle_triggered`, `general_failure`, ...), so the status code alone says
little: a throttle or a general failure is transient (tried again later), a refused key is
permanent. Used only when NEVERBOUNCE_API_KEY is set.
"""

from __future__ import annotations

from typing import Any

import httpx

from config import Settings
from workers.core.errors import PermanentError, TransientError

RESULTS = ("valid", "invalid", "disposable", "catchall", "unknown")
TRANSIENT = ("throttle_triggered", "general_failure", "temp_unavail")


class NeverBounce:
    def __init__(self, settings: Settings) -> None:
        self.key = settings.neverbounce_api_key
        self.http = httpx.Client(
            base_url=settings.neverbounce_base_url, timeout=settings.neverbounce_timeout_s
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> NeverBounce:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def check(self, email: str) -> str:
        """The provider's result for `email`: one of RESULTS."""
        try:
            response = self.http.get("/single/check", params={"key": self.key, "email": email})
        except httpx.TransportError as exc:
            raise TransientError(f"NeverBounce unreachable: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"NeverBounce answered {response.status_code}")
        try:
            body: dict[str, Any] = response.json()
        except ValueError as exc:
            raise TransientError("NeverBounce answered something other than JSON") from exc
        status = body.get("status")
        if status == "success" and body.get("result") in RESULTS:
            return str(body["result"])
        message = str(body.get("message", ""))[:200]
        if status in TRANSIENT:
            raise TransientError(f"NeverBounce: {status}: {message}", retry_after_s=5)
        raise PermanentError(f"NeverBounce refused the check: {status}: {message}")
