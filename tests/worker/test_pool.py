"""The database pool after the server ended its connections (a restart, a failover, an
operator's pg_terminate_backend): the next request gets a fresh connection, not an error."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import Engine, text

from models.db import make_engine
from tests.worker.conftest import submit_job
from tests.worker.test_polling import auth
from web import create_app
from workers.setup import Platform, connect


def end_pooled_connections(engine: Engine, admin: Engine) -> None:
    """Have the server end every connection `engine` holds in its pool, and wait until it has."""
    with engine.connect() as conn:  # the pool's one connection (requests ran one at a time)
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        deadline = time.monotonic() + 5
        while conn.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        ).scalar_one():
            assert time.monotonic() < deadline, "the backend outlived pg_terminate_backend"
            time.sleep(0.01)
            conn.rollback()


def test_requests_after_the_server_ended_the_pooled_connection_get_a_fresh_one(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    engine = make_engine(committed_platform.settings, pool_size=1)
    platform = connect(committed_platform.settings, broker=committed_platform.broker, engine=engine)
    client = create_app(platform=platform).test_client()
    headers = auth(committed_platform, owner)
    job_id = submit_job(committed_platform, owner, "test.wait")
    try:
        for method in ("GET", "POST"):  # a read (autocommit) and a write (a transaction)
            assert client.get(f"/api/v1/jobs/{job_id}", headers=headers).status_code == 200
            end_pooled_connections(engine, committed_platform.engine)

            if method == "GET":
                response = client.get(f"/api/v1/jobs/{job_id}", headers=headers)
            else:
                response = client.post(
                    "/api/v1/jobs", json={"kind": "system.noop", "params": {}}, headers=headers
                )

            assert response.status_code in (200, 202), (method, response.json)
    finally:
        engine.dispose()
