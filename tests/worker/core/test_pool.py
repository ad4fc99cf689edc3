"""The database pool after the server ended its connections (a restart, a failover, an
operator's pg_terminate_backend): the next request gets a fresh connection, not an error."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text

from config import Settings
from models.core.access import Viewer
from models.core.db import make_engine
from models.core.jobs import read_job
from tests.worker.conftest import submit_job
from tests.worker.core.test_polling import auth
from web import create_app
from web.core.context import close_db, db
from workers.core.setup import Platform, connect


def end_pooled_connections(engine: Engine, admin: Engine) -> None:
    """Have the server end every connection `engine` holds in its pool, and wait until it has."""
    with engine.connect() as conn:  # the pool's one connection (requests ran one at a time)
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    end_backend(pid, admin)


def end_backend(pid: int, admin: Engine) -> None:
    """Have the server end the connection of backend `pid`, and wait until it has."""
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        deadline = time.monotonic() + 5
        while conn.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        ).scalar_one():
            assert time.monotonic() < deadline, "the backend outlived pg_terminate_backend"
            time.sleep(0.01)
            conn.rollback()


@pytest.fixture
def one_connection(committed_platform: Platform) -> Iterator[Platform]:
    """The platform with a pool of one connection: the one the server is made to end."""
    engine = make_engine(committed_platform.settings, pool_size=1)
    yield connect(committed_platform.settings, broker=committed_platform.broker, engine=engine)
    engine.dispose()


def test_requests_after_the_server_ended_the_pooled_connection_get_a_fresh_one(
    committed_platform: Platform, one_connection: Platform, owner: uuid.UUID
) -> None:
    client = create_app(platform=one_connection).test_client()
    headers = auth(committed_platform, owner)
    job_id = submit_job(committed_platform, owner, "test.wait")
    for method in ("GET", "POST"):  # a read (autocommit) and a write (a transaction)
        assert client.get(f"/api/v1/jobs/{job_id}", headers=headers).status_code == 200
        end_pooled_connections(one_connection.engine, committed_platform.engine)

        if method == "GET":
            response = client.get(f"/api/v1/jobs/{job_id}", headers=headers)
        else:
            response = client.post(
                "/api/v1/jobs", json={"kind": "system.noop", "params": {}}, headers=headers
            )

        assert response.status_code in (200, 202), (method, response.json)


def test_a_connection_the_server_ends_mid_request_fails_only_that_statement(
    committed_platform: Platform, one_connection: Platform, owner: uuid.UUID
) -> None:
    app = create_app(platform=one_connection)
    job_id = submit_job(committed_platform, owner, "test.wait")
    viewer = Viewer(owner, is_admin=True)
    with app.test_request_context(f"/api/v1/jobs/{job_id}"):
        assert read_job(session=db(), job_id=job_id, viewer=viewer).id == job_id
        pid = db().execute(text("SELECT pg_backend_pid()")).scalar_one()
        end_backend(pid, committed_platform.engine)  # while the request holds it

        with pytest.raises(psycopg.OperationalError):
            read_job(session=db(), job_id=job_id, viewer=viewer)
        close_db()  # the request's end: no rollback is tried on the dead connection

    response = app.test_client().get(f"/api/v1/jobs/{job_id}", headers=auth(one_connection, owner))
    assert response.status_code == 200


def test_the_pool_hands_out_the_connection_used_last(settings: Settings) -> None:
    """LIFO: a request gets the backend that served the last one, warm, rather than the one
    idle longest; the rest may stay idle long enough for a server-side timeout to close them."""
    engine = make_engine(settings, pool_size=3)
    try:
        first, second = engine.connect(), engine.connect()
        pid = first.execute(text("SELECT pg_backend_pid()")).scalar_one()
        second.close()
        first.close()  # back in the pool last

        with engine.connect() as again:
            assert again.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
    finally:
        engine.dispose()
