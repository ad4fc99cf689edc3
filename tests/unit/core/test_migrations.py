"""Migrations: one head, `upgrade head` on an empty database, agreement with the models, and
data carried across 0002 (organisations, login sessions) in both directions."""

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
        types = conn.execute(
            text(
                "SELECT typname FROM pg_type "
                "WHERE typname IN ('job_status', 'org_tier', 'member_role')"
            )
        ).all()
        assert types == []
    with empty_database.begin() as conn:
        command.upgrade(alembic_config(conn), "head")


def test_0002_gives_every_user_an_organization_and_every_token_family_a_session(
    empty_database: Engine,
) -> None:
    user, family, job = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with empty_database.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(
            text("INSERT INTO users (id, email, password_hash) VALUES (:id, 'a@b.example', 'x')"),
            {"id": user},
        )
        for n, revoked in ((1, True), (2, False)):
            conn.execute(
                text(
                    "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, "
                    "revoked_at, user_agent) VALUES (:u, :f, :h, now() + interval '1 day', "
                    "CASE WHEN :revoked THEN now() END, 'curl/8')"
                ),
                {"u": user, "f": family, "h": f"{n:064d}", "revoked": revoked},
            )
        conn.execute(
            text(
                "INSERT INTO jobs (id, owner_id, kind, queue, max_attempts) "
                "VALUES (:id, :u, 'system.noop', 'system', 3)"
            ),
            {"id": job, "u": user},
        )
        command.upgrade(alembic_config(conn), "head")

        org = conn.execute(text("SELECT id, name, tier FROM organizations")).one()
        assert (org.name, org.tier) == ("a's organization", "free")
        assert conn.execute(text("SELECT org_id, user_id, role FROM memberships")).one() == (
            org.id,
            user,
            "owner",
        )
        assert conn.execute(text("SELECT org_id FROM jobs")).scalar_one() == org.id
        session = conn.execute(
            text("SELECT id, user_id, user_agent, revoked_at FROM auth_sessions")
        ).one()
        assert (session.id, session.user_id, session.user_agent) == (family, user, "curl/8")
        assert session.revoked_at is None  # one of its tokens is still live
        assert (
            conn.execute(
                text("SELECT count(*) FROM refresh_tokens WHERE session_id = :f"), {"f": family}
            ).scalar_one()
            == 2
        )

        command.downgrade(alembic_config(conn), "0001")
        rows = conn.execute(text("SELECT family_id, user_agent FROM refresh_tokens")).all()
        assert rows == [(family, "curl/8")] * 2
        assert conn.execute(text("SELECT owner_id FROM jobs")).scalar_one() == user
