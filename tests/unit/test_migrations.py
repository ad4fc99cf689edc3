"""Migrations: one head, `upgrade head` on an empty database, and agreement with the models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine, make_url

from models import Base
from tests.servers import ROOT


@pytest.fixture()
def empty_database(database_url: str) -> Iterator[Engine]:
    name = f"backline_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(make_url(database_url).set(database=name))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def alembic_config(connection: object) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    config.attributes["connection"] = connection
    return config


def test_there_is_a_single_head() -> None:
    assert len(ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_heads()) == 1


def test_upgrade_head_on_an_empty_database_matches_the_models(empty_database: Engine) -> None:
    with empty_database.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    with empty_database.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_downgrade_to_base_removes_everything_and_upgrade_works_again(
    empty_database: Engine,
) -> None:
    with empty_database.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
        command.downgrade(alembic_config(conn), "base")
    with empty_database.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        types = conn.execute(text("SELECT typname FROM pg_type WHERE typname = 'job_status'")).all()
        assert types == []
    with empty_database.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
