"""Per-request access to the platform: the database session and the submitting dispatcher."""

from __future__ import annotations

from flask import current_app, g, request
from sqlalchemy.orm import Session

from workers.core.setup import Platform

EXTENSION = "backline"


def platform() -> Platform:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def db() -> Session:
    """The request's session, opened on first use and closed when the request ends.

    GET and HEAD only read: their session runs each query on its own (autocommit), which
    saves the BEGIN and ROLLBACK round trips of a transaction nobody needs.
    """
    if "db" not in g:
        p = platform()
        reading = request.method in ("GET", "HEAD") and p.read_sessions is not None
        g.db = p.read_sessions() if reading else p.sessions()  # type: ignore[misc]
    return g.db  # type: ignore[no-any-return]


def only_reads_from_here() -> None:
    """The request's writes are committed and it only reads from now on (a long wait): its
    session becomes an autocommit one, so no read opens a transaction to roll back at the end.
    """
    p = platform()
    if p.read_sessions is not None:
        close_db()
        g.db = p.read_sessions()


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()
