"""Engine and session factories, built from settings (never at import time)."""

from __future__ import annotations

import select
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import psycopg
from psycopg.rows import args_row
from sqlalchemy import ClauseElement, Connection, Engine, create_engine, event
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler

from config import Settings

T = TypeVar("T")

KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
# libpq waits for ever by default on a server that accepts the connection and never answers
# (a hung server, a proxy in front of one that is gone).
CONNECT_TIMEOUT_S = 10


def make_engine(
    settings: Settings,
    *,
    pool_size: int | None = None,
    autocommit: bool = False,
) -> Engine:
    """An engine for the configured database.

    `autocommit` is for code whose every write is one statement (the workers' state changes):
    it saves the BEGIN and COMMIT round trips. A pooled connection the server ended while it
    sat idle is replaced on checkout (`_replace_if_hung_up`).
    """
    engine = create_engine(
        settings.database_url,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_recycle=1800,
        # The connection returned last goes out first: its backend is warm (after a quiet spell
        # a cold one answers several times slower), and the others can sit idle long enough
        # for a server-side idle timeout to close them.
        pool_use_lifo=True,
        isolation_level="AUTOCOMMIT" if autocommit else "READ COMMITTED",
        # TCP keepalives: an idle connection that a NAT or firewall would drop silently stays
        # open, and one whose peer vanished errors within a minute, which the checkout sees.
        connect_args={**KEEPALIVES, "connect_timeout": CONNECT_TIMEOUT_S},
    )
    event.listen(engine, "checkout", _replace_if_hung_up)
    return engine


def _replace_if_hung_up(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """checkout: refuse a pooled connection the server ended while it sat idle.

    A server that restarts or fails over, or an operator's pg_terminate_backend, ends each
    connection with a last message and closes it, so its socket turns readable; nothing else
    arrives on an idle connection that nobody LISTENs on. Asking the socket costs no round
    trip, where pool_pre_ping's SELECT cost one on every checkout. On DisconnectionError the
    pool opens a new connection in this one's place. Only this one: each of the others is
    checked as cheaply when its turn comes, and those the LIFO order left idle longest may
    be the only ones a server-side idle timeout ended.
    """
    if dbapi_connection.closed or dbapi_connection.broken or _readable(dbapi_connection):
        raise DisconnectionError("the server ended this connection while it sat in the pool")


def _readable(dbapi_connection: Any) -> bool:
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects readable after commit (views return them)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def driver_connection(connection: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under a SQLAlchemy one (what runs on it is part of the same
    transaction: committed or rolled back with it)."""
    driver = connection.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError(f"expected a psycopg connection, not {type(driver).__name__}")
    return driver


@dataclass(frozen=True)
class Prepared:
    """A statement compiled once into the driver's SQL, and sent as a prepared statement.

    For the few statements every request runs: through the ORM, building the statement's
    cache key, executing it and processing its rows cost several times what the database
    takes to answer. Parameters go to psycopg as they are (JSON wrapped in `Jsonb`), without
    SQLAlchemy's type processing, so the values a statement binds itself must be plain.
    """

    sql: str
    constants: dict[str, Any]  # values the statement binds itself

    @classmethod
    def compile(cls, statement: ClauseElement) -> Prepared:
        compiled = cast(SQLCompiler, statement.compile(dialect=PGDialect_psycopg()))
        constants = {name: b.value for b, name in compiled.bind_names.items() if not b.required}
        for name, value in constants.items():
            if type(value) not in (str, int, bool, type(None)):
                raise TypeError(f"bind {name} = {value!r}: pass it as a parameter instead")
        return cls(compiled.string, constants)

    def fetchone(self, session: Session, params: dict[str, Any], row: Callable[..., T]) -> T | None:
        """The first row, made by `row(*values)`, run in the session's transaction.

        As the ORM would, the session's pending changes are flushed first. If the statement
        finds the connection gone (a server restart mid-request), the session's connection is
        invalidated, so closing the session does not try to roll it back.
        """
        rows = self._run(session, params, row, many=False)
        return rows[0] if rows else None

    def fetchall(self, session: Session, params: dict[str, Any], row: Callable[..., T]) -> list[T]:
        """Every row, each made by `row(*values)`; otherwise as `fetchone`."""
        return self._run(session, params, row, many=True)

    def _run(
        self, session: Session, params: dict[str, Any], row: Callable[..., T], *, many: bool
    ) -> list[T]:
        if session.autoflush:
            session.flush()
        connection = session.connection()
        driver = driver_connection(connection)
        try:
            with driver.cursor(row_factory=args_row(row)) as cursor:
                cursor.execute(self.sql, {**self.constants, **params}, prepare=True)
                if many:
                    return cursor.fetchall()
                first = cursor.fetchone()
                return [] if first is None else [first]
        except psycopg.Error as exc:
            if driver.closed or driver.broken:
                connection.invalidate(exc)
            raise
