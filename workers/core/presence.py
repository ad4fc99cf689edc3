"""Worker presence: each worker process announces itself in Redis while it lives.

The heartbeat thread writes `<namespace>:workers:<worker id>` (a JSON document: id, host,
pid, queues, started_at, last_seen) with a time-to-live of three heartbeat intervals, so a
worker that stops, crashes or loses Redis disappears on its own. The worker id is the one the
claim writes into jobs.worker_id, which is how an operator sees what each worker is running.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from models.core.base import utcnow

TTL_INTERVALS = 3
REDIS_TIMEOUT_S = 3


@dataclass
class Presence:
    worker_id: str
    host: str
    pid: int
    queues: list[str]
    started_at: str
    last_seen: str = ""


def key_prefix(namespace: str) -> str:
    return f"{namespace}:workers:"


def client_for(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(
        redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )


class Announcer:
    """Writes one worker process's presence record; `beat()` from its heartbeat thread."""

    def __init__(self, redis_url: str, namespace: str, interval_s: float) -> None:
        self._client = client_for(redis_url)
        # One try per call: the next heartbeat is the retry. The heartbeat thread beats for
        # the jobs' leases in PostgreSQL right after, and a stopping worker withdraws its
        # record on its way out: neither may wait out retries against a Redis that is gone.
        self._client.set_retry(Retry(NoBackoff(), 0))
        self._prefix = key_prefix(namespace)
        self._ttl_ms = max(1000, int(interval_s * TTL_INTERVALS * 1000))
        self.presence: Presence | None = None

    def start(self, worker_id: str, queues: list[str]) -> None:
        self.presence = Presence(
            worker_id=worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=sorted(queues),
            started_at=utcnow().isoformat(),
        )
        self.beat()

    def beat(self) -> None:
        if self.presence is None:
            return
        self.presence.last_seen = utcnow().isoformat()
        self._client.set(
            self._prefix + self.presence.worker_id,
            json.dumps(asdict(self.presence)),
            px=self._ttl_ms,
        )

    def stop(self) -> None:
        """Leave at once on a clean shutdown (a crash leaves when the record expires)."""
        if self.presence is not None:
            self._client.delete(self._prefix + self.presence.worker_id)
            self.presence = None
        self._client.close()


def alive(client: redis.Redis, namespace: str) -> list[Presence]:
    """The workers whose record has not expired, oldest first."""
    prefix = key_prefix(namespace)
    keys = sorted(client.scan_iter(f"{prefix}*", count=500))
    if not keys:
        return []
    found = []
    values: list[bytes | None] = client.mget(keys)  # type: ignore[assignment]  # sync client
    for raw in values:
        if raw is None:  # expired between the scan and the read
            continue
        found.append(Presence(**json.loads(raw)))
    return sorted(found, key=lambda p: (p.started_at, p.worker_id))
