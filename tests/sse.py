"""Server-sent events as a test reads them."""

from __future__ import annotations

import json
from typing import Any


def sse(body: bytes) -> list[dict[str, Any]]:
    """The events of complete event-stream blocks: {"event", "id", "data"} each (comments and
    blocks without data, such as heartbeats, left out; data parsed as JSON)."""
    found = []
    for block in body.decode().split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
            found.append(fields)
    return found
