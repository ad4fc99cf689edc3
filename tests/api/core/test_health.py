"""/healthz and /readyz, and the workers' readiness command."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from flask.testing import FlaskClient
from sqlalchemy import text

from config import Settings
from tests.servers import ROOT
from web import create_app
from workers.core.health import migration_head
from workers.core.setup import Platform


def test_healthz_answers_without_a_token(client: FlaskClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_reports_each_dependency(client: FlaskClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200, response.json
    assert response.json["status"] == "ready"
    checks = response.json["checks"]
    assert checks["database"]["ok"] and checks["broker"]["ok"]
    assert checks["database"]["extra"] == {"current": migration_head(), "head": migration_head()}


def test_readyz_fails_while_the_schema_is_behind(
    client: FlaskClient, tx_platform: Platform
) -> None:
    with tx_platform.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        response = client.get("/readyz")
    finally:
        with tx_platform.engine.begin() as conn:
            conn.execute(
                text("UPDATE alembic_version SET version_num = :v"), {"v": migration_head()}
            )

    assert response.status_code == 503
    assert response.json["status"] == "not_ready"
    assert response.json["checks"]["database"]["ok"] is False
    assert "alembic upgrade head" in response.json["checks"]["database"]["detail"]


def test_readyz_fails_when_the_broker_is_unreachable(settings: Settings) -> None:
    down = settings.replace(redis_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    client = create_app(down).test_client()

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json["checks"]["broker"] == {
        "ok": False,
        "ms": response.json["checks"]["broker"]["ms"],
        "detail": "unreachable",
        "extra": {},
    }
    assert "Connection refused" not in json.dumps(response.json)  # no internals leak


def test_the_worker_readiness_command_exits_zero_when_ready(settings: Settings) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "BROKER_NAMESPACE": settings.broker_namespace,
    }
    done = subprocess.run(
        [sys.executable, "-m", "workers.core.health"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["status"] == "ready"
