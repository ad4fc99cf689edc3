"""Readiness checks shared by the API (/readyz) and the workers (`python -m workers.core.health`).

A process is ready when the database answers, its schema is at the migrations' head, and the
broker and Redis answer. Each check is timed and reports only ok/failed and a short reason to
the caller; the exception itself goes to the log (it may name hosts or users).

    python -m workers.core.health     # exit 0 when ready, 1 when not; prints the checks as JSON
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

import redis
from alembic.config import Config
from alembic.script import ScriptDirectory
from dramatiq import Broker
from sqlalchemy import text

from workers.core.broker import capabilities
from workers.core.setup import Platform

log = logging.getLogger("backline.health")
ROOT = Path(__file__).resolve().parents[2]
CHECK_TIMEOUT_S = 3


@dataclass
class Check:
    ok: bool
    ms: float
    detail: str = ""
    extra: dict[str, str | None] = field(default_factory=dict)


@cache
def migration_head() -> str | None:
    """The revision the code expects (read once from migrations/)."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


def _timed(name: str, probe: Callable[[], tuple[bool, str, dict[str, str | None]]]) -> Check:
    started = time.perf_counter()
    try:
        ok, detail, extra = probe()
    except Exception:  # noqa: BLE001 - a failing dependency is the answer, not an error
        log.warning("readiness check failed", extra={"check": name}, exc_info=True)
        ok, detail, extra = False, "unreachable", {}
    return Check(ok, round((time.perf_counter() - started) * 1000, 1), detail, extra)


def _database(platform: Platform) -> tuple[bool, str, dict[str, str | None]]:
    with platform.engine.connect() as conn:
        conn.execute(text(f"SET LOCAL statement_timeout = {CHECK_TIMEOUT_S * 1000}"))
        current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    head = migration_head()
    extra = {"current": current, "head": head}
    if current != head:
        return False, "schema is not at the migrations' head: run `alembic upgrade head`", extra
    return True, "", extra


def _broker(broker: Broker) -> tuple[bool, str, dict[str, str | None]]:
    return capabilities(broker).ping(), "", {}


def _redis(url: str) -> tuple[bool, str, dict[str, str | None]]:
    client = redis.Redis.from_url(
        url, socket_timeout=CHECK_TIMEOUT_S, socket_connect_timeout=CHECK_TIMEOUT_S
    )
    try:
        client.ping()
    finally:
        client.close()
    return True, "", {}


def readiness(platform: Platform) -> dict[str, Check]:
    checks = {
        "database": _timed("database", lambda: _database(platform)),
        "broker": _timed("broker", lambda: _broker(platform.broker)),
    }
    if platform.settings.redis_url != platform.settings.effective_broker_url:
        checks["redis"] = _timed("redis", lambda: _redis(platform.settings.redis_url))
    return checks


def report(checks: dict[str, Check]) -> dict[str, object]:
    return {
        "status": "ready" if all(c.ok for c in checks.values()) else "not_ready",
        "checks": {name: asdict(check) for name, check in checks.items()},
    }


def main() -> int:
    from config import load_settings
    from workers.core.setup import connect

    platform = connect(load_settings(), pool_size=1)
    body = report(readiness(platform))
    print(json.dumps(body))
    platform.engine.dispose()
    return 0 if body["status"] == "ready" else 1


if __name__ == "__main__":
    sys.exit(main())
