"""What a worker holds: the claimed job, and where its attempt stands (`Hold`)."""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import dataclass
from typing import Any


class Hold(enum.Enum):
    """Where a running attempt stands, as its worker learns it from the job's row."""

    HELD = "held"  # still this worker's, and nobody asked to cancel it
    CANCEL_REQUESTED = "cancel requested"  # still this worker's; someone asked to cancel it
    LOST = "lost"  # no longer this worker's (the sweep gave it to another, or it finished)

    @classmethod
    def of(cls, cancel_requested: bool) -> Hold:
        """The hold of a job whose row this worker's lease still matches."""
        return cls.CANCEL_REQUESTED if cancel_requested else cls.HELD


def as_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker needs to know about a job it now holds."""

    id: uuid.UUID
    kind: str
    params: dict[str, Any]
    attempts: int
    max_attempts: int
    checkpoint: dict[str, Any] | None
    lease_id: uuid.UUID
    request_id: str | None
    # None for the platform's internal jobs; its changes are announced on its org's channel.
    org_id: uuid.UUID | None = None
