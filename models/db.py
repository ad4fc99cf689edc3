"""Engine and session factories, built from settings (never at import time)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from config import Settings


def make_engine(
    settings: Settings,
    *,
    pool_size: int | None = None,
    autocommit: bool = False,
    pre_ping: bool = True,
) -> Engine:
    """An engine for the configured database.

    `autocommit` is for code whose every write is one statement (the workers' state changes):
    it saves the BEGIN and COMMIT round trips. Hot paths may skip the pre-ping too: a
    connection that went stale then fails its statement, is dropped from the pool, and the
    work is retried.
    """
    return create_engine(
        settings.database_url,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=pre_ping and not autocommit,
        pool_recycle=1800,
        isolation_level="AUTOCOMMIT" if autocommit else "READ COMMITTED",
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects readable after commit (views return them)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
