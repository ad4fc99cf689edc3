"""Group commit for the two state changes every job makes: claim and success.

The worker threads of a process share one database connection for these changes. The first
thread to arrive writes (it leads); threads that arrive while it writes queue their changes
and wait. When the leader's write is done it hands the lead to the first waiting thread,
which writes everything that queued up meanwhile in a single statement (one round trip, one
commit, one WAL flush for the lot) and hands each thread its own answer. Nothing waits on
purpose: at low load a batch holds one change and its own thread writes it, with no hand-off
to another thread; under load the batches grow by themselves while the previous one is being
written. Every change is still committed before its thread goes on, so the durability is the
same as writing alone. Once it has passed the lead on, the leader tells long-polling clients
which jobs changed: itself when its own change was a success (its job is over), through the
change feed's background publisher when it was a claim (its job is about to run).

The connection is a plain psycopg one in autocommit mode: the statements are prepared once
and planned once (a generic plan: they find their rows by primary key), which is most of the
cost of a small change.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy.engine import make_url

from models import job_runs
from models.job_runs import ClaimedJob
from workers.changes import ChangeFeed

log = logging.getLogger("backline.statewriter")
MAX_BATCH = 256
ANSWER_TIMEOUT_S = 120
CONNECT_TIMEOUT_S = 10
# The statements find every row they touch by primary key, so the right plan is always the
# same: nested loops over primary-key lookups. Planned once (a generic plan, prepared), they
# would otherwise keep whatever the statistics of the moment suggested: after a burst of
# submissions the planner, still believing the jobs table tiny, may pick a scan of the whole
# table, and keep it for the life of the connection (seen: 4x the database time per job).
# Re-planning every time would cost a third more database time instead.
PLAN_SETTINGS = (
    "SET plan_cache_mode = force_generic_plan",
    "SET enable_seqscan = off",
    "SET enable_hashjoin = off",
    "SET enable_mergejoin = off",
)
# A claim can wait for a row lock the sweep or a heartbeat holds for a moment; nothing the
# writer does should take longer than this.
STATEMENT_TIMEOUT_MS = 60_000


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(eq=False)
class _Request:
    op: str  # "claim" or "succeed"
    job_id: uuid.UUID
    worker_id: str = ""
    job: ClaimedJob | None = None
    result: Any = None
    answer: Any = None
    error: BaseException | None = None
    done: bool = False
    lead: bool = False  # this request's thread is to write the next batch
    # Released to wake the waiting thread (answered, or handed the lead): a bare lock is the
    # cheapest signal between two threads.
    signal: threading.Lock = field(default_factory=_held_lock)

    def wake(self) -> None:
        self.signal.release()

    def settle(self, answer: Any = None, error: BaseException | None = None) -> None:
        self.answer, self.error, self.done = answer, error, True
        self.wake()


class StateWriter:
    def __init__(self, database_url: str, changes: ChangeFeed) -> None:
        self._conninfo = make_url(database_url).set(drivername="postgresql")
        self._changes = changes
        self._mutex = threading.Lock()
        self._pending: list[_Request] = []
        self._leading = False
        self._conn: psycopg.Connection[Any] | None = None

    def claim(self, job_id: uuid.UUID, worker_id: str) -> ClaimedJob | None:
        return self._ask(_Request("claim", job_id, worker_id=worker_id))  # type: ignore[no-any-return]

    def succeed(self, job: ClaimedJob, result: Any) -> bool:
        return self._ask(_Request("succeed", job.id, job=job, result=result))  # type: ignore[no-any-return]

    def stop(self) -> None:
        """Close the connection (the worker threads have stopped; a later change reopens it)."""
        with self._mutex:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # -- leading and following -------------------------------------------------------------
    def _ask(self, request: _Request) -> Any:
        with self._mutex:
            self._pending.append(request)
            if not self._leading:
                self._leading = request.lead = True
        while not request.done:
            if request.lead:
                self._lead(request)
            elif not request.signal.acquire(timeout=ANSWER_TIMEOUT_S):
                with self._mutex:
                    # Not taken into a batch, nor handed the lead just now: give up on it.
                    if not request.lead and request in self._pending:
                        self._pending.remove(request)
                        raise TimeoutError("the state writer did not answer in time")
        if request.error is not None:
            raise request.error
        return request.answer

    def _lead(self, own: _Request) -> None:
        """Write batches until our own change is done, pass the lead on, then tell the
        pollers which jobs changed (after the hand-off: the next batch need not wait)."""
        batch: list[_Request] = []
        changed: list[uuid.UUID] = []
        try:
            while not own.done:
                with self._mutex:
                    batch = self._pending[:MAX_BATCH]
                    del self._pending[:MAX_BATCH]
                changed += self._write(batch)
                batch = []
        finally:
            # Also on the way out of an interruption (a time limit, a shutdown), so no change
            # is left unanswered and no waiting thread is left without a leader.
            for request in batch:
                if not request.done:
                    request.settle(error=RuntimeError("state change interrupted"))
            with self._mutex:
                own.lead = False
                if self._pending:
                    successor = self._pending[0]
                    successor.lead = True
                    successor.wake()
                else:
                    self._leading = False
        if own.op == "claim":
            self._changes.publish_soon(changed)  # from a background thread: our job can start
        else:
            self._changes.publish(changed)  # our job is done: nothing waits on us but its ack

    # -- writing ---------------------------------------------------------------------------
    def _write(self, batch: list[_Request]) -> list[uuid.UUID]:
        """Write the batch and answer each request; the ids of the jobs that changed."""
        claims = [r for r in batch if r.op == "claim"]
        successes = [r for r in batch if r.op == "succeed"]
        work = job_runs.batch(
            worker_id=claims[0].worker_id if claims else "",
            claims=[r.job_id for r in claims],
            successes=[(r.job, r.result) for r in successes],  # type: ignore[misc]
        )
        try:
            rows = self._connection().execute(work.sql, work.params).fetchall()
        except Exception as exc:
            self._drop_if_broken()
            if len(batch) > 1:
                # One bad request must not fail the others: write them one at a time.
                log.warning(
                    "batched state change failed; writing one by one",
                    extra={"size": len(batch)},
                    exc_info=True,
                )
                return [job_id for request in batch for job_id in self._write([request])]
            batch[0].settle(error=exc)
            return []
        claimed, held = work.answers(rows)
        answers = [*zip(claims, claimed, strict=True), *zip(successes, held, strict=True)]
        for request, answer in answers:
            request.settle(answer)
        return [r.job_id for r, answer in answers if answer]

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self._conninfo.render_as_string(hide_password=False),
                autocommit=True,
                prepare_threshold=0,  # prepare every statement on its first use
                row_factory=namedtuple_row,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name="backline-state-writer",
            )
            for setting in PLAN_SETTINGS:
                self._conn.execute(setting)
            self._conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        return self._conn

    def _drop_if_broken(self) -> None:
        conn = self._conn
        if conn is not None and (conn.broken or conn.closed):
            self._conn = None
            conn.close()
