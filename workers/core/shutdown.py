"""A worker process told to stop does stop, even when PostgreSQL or Redis is gone.

On SIGTERM Dramatiq waits for its threads: the running jobs (which have
WORKER_SHUTDOWN_GRACE_S, then are queued again at their next check-in), the acknowledgements
of their messages, the consumers, then the platform's own threads. Every one of those talks
to the database or to Redis, and against a server that is gone each can wait a long time (a
connection attempt's timeout, a client's retries after it). So once the grace and
`SHUTDOWN_MARGIN_S` have passed, a process still stopping exits there and then, unless a job
is still running its own code with the database answering: a job that never checks in is
waited for, as ever (with the database gone its outcome could not be recorded anyway).

What the exit leaves behind is what a crash leaves, and is recovered the same way: running
jobs by the sweep once their heartbeat is stale, unacknowledged messages by the broker.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import psycopg
from dramatiq import Broker
from dramatiq.middleware import Middleware
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from workers.core.tracking import Runtime

log = logging.getLogger("backline.worker")
SHUTDOWN_MARGIN_S = 5.0
PROBE_TIMEOUT_S = 2
RECHECK_S = 1.0
EXIT_CODE = 1  # Dramatiq's "killed"


class ShutdownDeadline(Middleware):
    """Ends a stopping worker process `SHUTDOWN_MARGIN_S` after its jobs' grace.

    For the worker processes `dramatiq workers.core.app` starts, never for a worker that
    runs inside another program (a test's): the exit ends the whole process.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        margin_s: float = SHUTDOWN_MARGIN_S,
        exit: Callable[[int], object] = os._exit,  # noqa: A002 - what it is
    ) -> None:
        self.runtime = runtime
        self.margin_s = margin_s
        self.exit = exit
        self.database_url = (
            make_url(runtime.settings.database_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )

    def before_worker_shutdown(self, broker: Broker, worker: object) -> None:
        after_s = self.runtime.settings.worker_shutdown_grace_s + self.margin_s
        threading.Thread(
            target=self._watch, args=(after_s,), name="shutdown-deadline", daemon=True
        ).start()

    def _watch(self, after_s: float) -> None:
        began = time.monotonic()
        time.sleep(max(0.0, after_s - PROBE_TIMEOUT_S))  # the first probe ends by `after_s`
        waiting = False
        while (running := self.runtime.running_job_code()) and database_answers(self.database_url):
            if not waiting:
                log.warning(
                    "worker still stopping: jobs are running their own code past their grace "
                    "without checking in; waiting for them",
                    extra={"running": running},
                )
                waiting = True
            time.sleep(RECHECK_S)
        log.error(
            "worker still stopping %g s after it was told to (is PostgreSQL or Redis out of "
            "reach?); exiting now: its jobs are recovered as after a crash",
            round(time.monotonic() - began, 1),
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        self.exit(EXIT_CODE)


def database_answers(url: str) -> bool:
    """Whether the database answers a new connection within PROBE_TIMEOUT_S."""
    try:
        with psycopg.connect(
            url,
            connect_timeout=PROBE_TIMEOUT_S,
            options=f"-c statement_timeout={PROBE_TIMEOUT_S * 1000}",
            application_name="backline-shutdown-probe",
        ) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True
