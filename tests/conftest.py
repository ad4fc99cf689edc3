"""Shared fixtures: a fresh database per test run (per xdist worker), real Redis, the app.

Model and API tests run inside a transaction that is rolled back at the end of each test.
Worker tests need committed rows (workers use their own connections), so they use
`committed_platform`, which empties the tables after each test instead.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from config.settings import normalise_database_url
from models import Base
from models.accounts.users import User, create_user, start_session, utcnow
from models.orgs.organizations import primary_org_id
from tests import kinds, servers  # noqa: F401 - kinds registers the test job kinds
from tests.s3 import s3_server
from tests.smtp import SmtpServer
from web.core.tokens import issue_access_token
from workers.core.enqueue import Dispatcher
from workers.core.setup import Platform, connect

# Every table the models declare (a domain's tables join by being imported in models/__init__.py).
TABLES = ", ".join(table.name for table in Base.metadata.sorted_tables)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    admin_url = normalise_database_url(servers.postgres_admin_url())
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"backline_test_{worker}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    config = Config(str(servers.ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    engine = create_engine(url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return servers.redis_url()


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str, smtp: SmtpServer) -> Settings:
    return Settings(
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        env="test",
        database_url=database_url,
        redis_url=redis_url,
        broker_namespace=f"backline-test-{uuid.uuid4().hex[:8]}",
        heartbeat_interval_s=0.2,
        heartbeat_stale_s=1.5,
        queued_stale_s=1.0,
        sweep_interval_s=0.2,
        worker_threads=4,
        log_level="WARNING",
        account_mail_answer_ms=20,  # the floor's own test sets its figure
        trial_days=0,  # new organisations start free; tests/api/test_billing.py sets a trial
    )


@pytest.fixture(scope="session")
def platform(settings: Settings) -> Iterator[Platform]:
    platform = connect(settings)
    yield platform
    _flush_namespace(settings)
    platform.engine.dispose()


def _flush_namespace(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    keys = list(client.scan_iter(f"{settings.broker_namespace}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture()
def tx_platform(platform: Platform) -> Iterator[Platform]:
    """The platform with sessions joined to one connection whose transaction is rolled back."""
    connection = platform.engine.connect()
    outer = connection.begin()
    sessions = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    dispatcher = Dispatcher(platform.broker, platform.engine)
    dispatcher.install(sessions)
    platform.changes.install(sessions)
    # Rate limits stay on, counted in the real Redis, but each test counts apart from the rest.
    settings = platform.settings.replace(rate_limit_key_prefix=f"test-{uuid.uuid4().hex}")
    yield Platform(
        settings, platform.broker, platform.engine, sessions, dispatcher, platform.changes
    )  # no read_sessions: reads go through the test's transaction too
    outer.rollback()
    connection.close()


@pytest.fixture()
def session(tx_platform: Platform) -> Iterator[Session]:
    with tx_platform.sessions() as session:
        yield session


@pytest.fixture()
def committed_platform(platform: Platform) -> Iterator[Platform]:
    """The real platform (rate limits counted apart for this test); tables emptied after."""
    settings = platform.settings.replace(rate_limit_key_prefix=f"test-{uuid.uuid4().hex}")
    yield dataclasses.replace(platform, settings=settings)
    with platform.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} CASCADE"))
    platform.broker.flush_all()


def make_user(
    session: Session, *, admin: bool = False, email: str | None = None, verified: bool = True
) -> User:
    """A user (verified unless told otherwise) with the organisation they own."""
    user = create_user(
        session=session,
        email=email or f"{uuid.uuid4().hex[:10]}@example.com",
        password="correct horse battery",
        is_admin=admin,
    )
    if verified:
        user.email_verified_at = utcnow()
    session.flush()
    return user


def org_of(session: Session, user_id: uuid.UUID) -> uuid.UUID:
    """The organisation `create_user` made for the user."""
    org_id = primary_org_id(session=session, user_id=user_id)
    assert org_id is not None
    return org_id


def access_token(platform: Platform, session: Session, user: User) -> str:
    """An access token of a new login session of `user` (committed)."""
    auth_session, _ = start_session(
        session=session, user=user, ttl_s=platform.settings.refresh_token_ttl_s
    )
    session.commit()
    return issue_access_token(platform.settings, user.id, auth_session.id)


def broker_held_jobs(platform: Platform, queue: str) -> set[str]:
    """The ids of the jobs whose messages the Redis broker holds on `queue`."""
    client = redis.Redis.from_url(platform.settings.redis_url)
    raw = client.hvals(f"{platform.settings.broker_namespace}:{queue}.msgs")
    return {json.loads(message)["args"][0] for message in raw}


@pytest.fixture(scope="session")
def s3_settings() -> Iterator[dict[str, Any]]:
    """Settings overrides that put storage in a bucket of a local S3-compatible server."""
    with s3_server() as overrides:
        yield overrides
