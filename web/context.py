"""Per-request access to the platform: the database session and the submitting dispatcher."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session

from workers.setup import Platform

EXTENSION = "backline"


def platform() -> Platform:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def db() -> Session:
    """The request's session, opened on first use and closed when the request ends."""
    if "db" not in g:
        g.db = platform().sessions()
    return g.db  # type: ignore[no-any-return]


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()
