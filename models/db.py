"""Engine and session factories, built from settings (never at import time)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from config import Settings


def make_engine(settings: Settings, *, pool_size: int | None = None) -> Engine:
    """An engine for the configured database; connections are checked before use."""
    return create_engine(
        settings.database_url,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects readable after commit (views return them)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
