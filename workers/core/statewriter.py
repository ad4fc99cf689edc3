"""Group commit for the two state changes every job makes: claim and success.

Worker threads hand their claims and successes to one writer thread per process, which
writes whatever has queued up in a single statement (one round trip, one commit, one WAL
flush for the lot) and hands each thread its own answer. Nothing waits on purpose: at low
load a batch holds one change and goes out at once; under load the batches grow by
themselves while the previous one is being written. Every change is still committed before
its thread goes on, so the durability is the same as writing alone. A success may also be
handed over without waiting (`succeed_soon`): what must follow it, the message's
acknowledgement above all (workers/core/handoff.py), then runs on a follow-up thread once it
is written.

The writing happens on a thread of its own, never on a worker thread: Dramatiq interrupts
worker threads (time limits, shutdown) by raising an exception in them wherever they are,
and such an exception must never land halfway through writing other jobs' changes. A worker
thread interrupted while it waits only stops waiting; its change is still written (a claim
nobody runs then is recovered by the sweep once its heartbeat is stale, as after a crash).

The connection is a plain psycopg one in autocommit mode: the statements are prepared once
and planned once, which is most of the cost of a small change.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy.engine import make_url

from models.core import job_runs
from models.core.db import KEEPALIVES
from models.core.job_runs import ClaimedJob
from workers.core.batching import take_batch
from workers.core.changes import ChangeFeed

log = logging.getLogger("backline.statewriter")
MAX_BATCH = 256
ANSWER_TIMEOUT_S = 120
CONNECT_TIMEOUT_S = 10
# The statements find every row they touch by primary key, so the right plan is always the
# same: nested loops over primary-key lookups. Planned once (a generic plan, prepared), they
# would otherwise keep whatever the statistics of the moment suggested: after a burst of
# submissions the planner, still believing the jobs table tiny, may pick a scan of the whole
# table, and keep it for the life of the connection (seen: 4x the database time per job).
# Re-planning every time would cost a third more database time instead. A claim can wait for
# a row lock the sweep or a heartbeat holds for a moment; no statement should take a minute.
SESSION_SETTINGS = (
    "SET plan_cache_mode = force_generic_plan",
    "SET enable_seqscan = off",
    "SET enable_hashjoin = off",
    "SET enable_mergejoin = off",
    "SET statement_timeout = 60000",
)


class SuccessWrite(enum.Enum):
    """What became of a success handed to the writer."""

    WRITTEN = "written"  # the job is succeeded, with its result
    NOT_HELD = "not held"  # this worker no longer held the job: the result is dropped
    FAILED = "failed"  # not written (the database refused it, or was out of reach)

    @classmethod
    def of(cls, held: bool) -> SuccessWrite:
        return cls.WRITTEN if held else cls.NOT_HELD


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(eq=False)
class _Request:
    op: str  # "claim", "succeed", or "mark" (writes nothing: see after_queued)
    job_id: uuid.UUID
    worker_id: str = ""
    job: ClaimedJob | None = None
    result: Any = None
    answer: Any = None
    error: BaseException | None = None
    done: bool = False
    # A success nobody waits for: called with what became of it once it is written (or
    # failed), on the follow-up thread.
    then: Callable[[SuccessWrite], None] | None = None
    # Released once, when the answer is in: a bare lock is the cheapest signal there is.
    signal: threading.Lock = field(default_factory=_held_lock)

    def settle(self, answer: Any = None, error: BaseException | None = None) -> None:
        if not self.done:
            self.answer, self.error, self.done = answer, error, True
            self.signal.release()


class StateWriter:
    def __init__(self, database_url: str, changes: ChangeFeed) -> None:
        # TCP keepalives, as the pools have them: a peer that vanished errors within a
        # minute, rather than leaving a statement waiting for an answer that never comes.
        self._conninfo = (
            make_url(database_url)
            .set(drivername="postgresql")
            .update_query_dict({k: str(v) for k, v in KEEPALIVES.items()})
        )
        self._changes = changes
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._followups: queue.SimpleQueue[list[_Request] | None] = queue.SimpleQueue()
        self._follower: threading.Thread | None = None
        self._follower_lock = threading.Lock()  # not _lock: stop() holds that while joining
        self._stopped = False

    def claim(self, job_id: uuid.UUID, worker_id: str) -> ClaimedJob | None:
        return self._ask(_Request("claim", job_id, worker_id=worker_id))  # type: ignore[no-any-return]

    def succeed(self, job: ClaimedJob, result: Any) -> SuccessWrite:
        """Write a success and wait for it: WRITTEN or NOT_HELD (raises if it failed)."""
        return SuccessWrite.of(self._ask(_Request("succeed", job.id, job=job, result=result)))

    def succeed_soon(
        self, job: ClaimedJob, result: Any, then: Callable[[SuccessWrite], None]
    ) -> None:
        """Hand a success over without waiting for it to be written.

        `then(written)` runs once it is, or once writing it failed (FAILED). It runs on the
        writer's follow-up thread, never on the caller's.
        """
        self._start()
        self._queue.put(_Request("succeed", job.id, job=job, result=result, then=then))

    def after_queued(self, then: Callable[[], None]) -> None:
        """Run `then` once everything queued so far is written (on the follow-up thread)."""
        self._start()
        self._queue.put(_Request("mark", uuid.UUID(int=0), then=lambda _written: then()))

    def stop(self) -> None:
        """Write what is queued and run what follows it, then stop and close the connection."""
        self._stopped = True  # a batch still being written after this runs its follow-ups itself
        with self._lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(timeout=10)
                self._thread = None
        with self._follower_lock:
            if self._follower is not None:
                self._followups.put(None)
                self._follower.join(timeout=10)
                self._follower = None

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="state-writer", daemon=True)
                self._thread.start()

    def _ask(self, request: _Request) -> Any:
        self._start()
        self._queue.put(request)
        if not request.signal.acquire(timeout=ANSWER_TIMEOUT_S):
            raise TimeoutError("the state writer did not answer in time")
        if request.error is not None:
            raise request.error
        return request.answer

    def _run(self) -> None:
        try:
            while (batch := take_batch(self._queue, MAX_BATCH)) is not None:
                writes = [r for r in batch if r.op != "mark"]
                try:
                    changed = self._write(writes) if writes else []
                except Exception as exc:  # a bug here must not leave threads waiting
                    log.exception("state writer failed a batch")
                    for request in batch:
                        request.settle(error=exc)
                    self._follow_up([r for r in batch if r.then is not None])
                    continue
                # When nothing else waits, the pollers are told from here at once. Under load
                # the change feed's own thread tells them, so this one goes straight on to
                # the next batch: waiting on Redis here took a third of its time.
                try:
                    job_ids, org_ids = [c[0] for c in changed], [c[1] for c in changed]
                    if self._queue.empty():
                        self._changes.publish(job_ids, org_ids)
                    else:
                        self._changes.publish_soon(job_ids, org_ids)
                except Exception:  # never worth losing the writer over (pollers re-read)
                    log.exception("state writer could not publish job changes")
                self._follow_up([r for r in batch if r.then is not None])
        finally:
            self._close()

    def _follow_up(self, requests: list[_Request]) -> None:
        """What the written successes nobody waited for lead to, on the follow-up thread."""
        if not requests:
            return
        if self._stopped:  # the writer outlived stop() (a slow database): no new thread now
            self._run_followups_of(requests)
            return
        with self._follower_lock:
            if self._follower is None or not self._follower.is_alive():
                self._follower = threading.Thread(
                    target=self._run_followups, name="state-writer-followups", daemon=True
                )
                self._follower.start()
        self._followups.put(requests)

    def _run_followups(self) -> None:
        while True:
            requests = self._followups.get()
            if requests is None:
                return
            self._run_followups_of(requests)

    @staticmethod
    def _run_followups_of(requests: list[_Request]) -> None:
        for request in requests:
            try:
                written = (
                    SuccessWrite.FAILED
                    if request.error is not None
                    else SuccessWrite.of(bool(request.answer))
                )
                request.then(written)  # type: ignore[misc]
            except Exception:  # one failing follow-up must not stop the others
                log.exception("a written success's follow-up failed")

    # -- writing ---------------------------------------------------------------------------
    def _write(self, batch: list[_Request]) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
        """Write the batch and answer each request; the jobs that changed, with their orgs."""
        claims = [r for r in batch if r.op == "claim"]
        successes = [r for r in batch if r.op == "succeed"]
        work = job_runs.batch(
            worker_id=claims[0].worker_id if claims else "",
            claims=[r.job_id for r in claims],
            successes=[(r.job, r.result) for r in successes],  # type: ignore[misc]
        )
        try:
            rows = self._execute(work)
        except Exception as exc:
            if self._conn is not None and len(batch) > 1:
                # The statement failed, not the connection: one bad change must not fail the
                # others, so they are written one at a time.
                log.warning(
                    "batched state change failed; writing one by one",
                    extra={"size": len(batch)},
                    exc_info=True,
                )
                return self._write_one_by_one(batch)
            # The database is out of reach: every change fails now (Dramatiq redelivers a
            # claim's message; a success's job is the sweep's), rather than each waiting for
            # its own connection attempt in turn.
            if len(batch) > 1:
                log.warning(
                    "state writer cannot reach the database; batch failed",
                    extra={"size": len(batch)},
                )
            for request in batch:
                request.settle(error=exc)
            return []
        claimed, held = work.answers(rows)
        answers = [*zip(claims, claimed, strict=True), *zip(successes, held, strict=True)]
        for request, answer in answers:
            request.settle(answer)
        return [
            (r.job_id, answer.org_id if r.op == "claim" else r.job.org_id)  # type: ignore[union-attr]
            for r, answer in answers
            if answer
        ]

    def _execute(self, work: job_runs.Batch) -> list[Any]:
        """Run the batch's statement; if the connection it went out on was lost (a server
        restart, a failover), once more on a fresh one. Raises with `_conn` None if no
        connection could be had: one attempt, when there was none to lose."""
        had_connection = self._conn is not None
        try:
            return self._send(work)
        except Exception:
            if self._conn is not None or not had_connection:
                raise
        # The lost connection may have committed the batch before it went: its claims then
        # answer "not there to take" (the sweep recovers those jobs, as after a crash) and
        # its successes "no longer held" (their results are stored all the same).
        log.warning("state writer lost its connection; sending the batch again on a new one")
        return self._send(work)

    def _send(self, work: job_runs.Batch) -> list[Any]:
        try:
            return self._connection().execute(work.sql, work.params).fetchall()
        except Exception:
            self._drop_if_broken()
            raise

    def _write_one_by_one(self, batch: list[_Request]) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
        changed: list[tuple[uuid.UUID, uuid.UUID | None]] = []
        for n, request in enumerate(batch):
            changed += self._write([request])
            if self._conn is None:  # the database went out of reach meanwhile: so do the rest
                for rest in batch[n + 1 :]:
                    rest.settle(error=request.error)
                break
        return changed

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn: psycopg.Connection[Any] = psycopg.connect(
                self._conninfo.render_as_string(hide_password=False),
                autocommit=True,
                prepare_threshold=0,  # prepare every statement on its first use
                row_factory=namedtuple_row,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name="backline-state-writer",
            )
            try:
                for setting in SESSION_SETTINGS:
                    conn.execute(setting)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _drop_if_broken(self) -> None:
        conn = self._conn
        if conn is not None and (conn.broken or conn.closed):
            self._conn = None
            conn.close()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
