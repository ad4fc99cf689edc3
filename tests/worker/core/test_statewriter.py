"""Group commit: many threads claim and finish jobs through one writer, each gets its answer."""

from __future__ import annotations

import ctypes
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from dramatiq.middleware import TimeLimitExceeded
from sqlalchemy import text

from config import Settings
from models.core import job_runs
from models.core.job_runs import ClaimedJob
from models.core.jobs import JobStatus
from tests.tcp import TcpServer
from tests.worker.conftest import events, load, submit_job
from workers.core.setup import Platform, start_worker_platform
from workers.core.statewriter import StateWriter, SuccessWrite


def test_concurrent_claims_of_one_job_have_exactly_one_winner(
    settings: Settings, committed_platform: Platform, owner: uuid.UUID
) -> None:
    _, runtime = start_worker_platform(settings)
    job_id = submit_job(committed_platform, owner, "system.noop")
    try:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda _: runtime.writer.claim(job_id, "w:1"), range(16)))
    finally:
        runtime.close()

    winners = [a for a in answers if a is not None]
    assert len(winners) == 1
    assert load(committed_platform, job_id).lease_id == winners[0].lease_id
    assert [e.type for e in events(committed_platform, job_id)] == ["queued", "started"]


def test_one_batch_asking_twice_for_a_job_gives_it_to_one_claim_with_a_fresh_lease(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    first, second = (submit_job(committed_platform, owner, "system.noop") for _ in range(2))
    with committed_platform.sessions.begin() as session:
        claimed, _ = job_runs.apply_batch(
            session=session, worker_id="w:1", claims=[first, second, first], successes=[]
        )

    assert [c is not None for c in claimed].count(True) == 2
    assert claimed[1] is not None and claimed[1].id == second
    winner = claimed[0] or claimed[2]
    assert (
        winner is not None and winner.id == first and (claimed[0] is None) != (claimed[2] is None)
    )
    # Each claim's lease is the one stored, and no two claims share one.
    assert {load(committed_platform, c.id).lease_id for c in claimed if c} == {
        c.lease_id for c in claimed if c
    }
    assert winner.lease_id != claimed[1].lease_id
    assert [e.type for e in events(committed_platform, first)] == ["queued", "started"]


def test_a_batch_of_successes_keeps_each_jobs_result_and_drops_a_lost_lease(
    settings: Settings, committed_platform: Platform, owner: uuid.UUID
) -> None:
    _, runtime = start_worker_platform(settings)
    ids = [submit_job(committed_platform, owner, "system.noop") for _ in range(20)]
    try:
        with ThreadPoolExecutor(20) as pool:
            claimed: list[ClaimedJob] = list(
                pool.map(lambda i: runtime.writer.claim(i, "w:1"), ids)
            )
            stale = ClaimedJob(**{**claimed[0].__dict__, "lease_id": uuid.uuid4()})
            held = list(
                pool.map(
                    lambda c: runtime.writer.succeed(c, {"n": str(c.id)}), [stale, *claimed[1:]]
                )
            )
    finally:
        runtime.close()

    assert held == [SuccessWrite.NOT_HELD] + [SuccessWrite.WRITTEN] * 19
    assert load(committed_platform, ids[0]).status == JobStatus.RUNNING
    for job_id in ids[1:]:
        job = load(committed_platform, job_id)
        assert job.status == JobStatus.SUCCEEDED
        assert job.result == {"n": str(job_id)}


def test_a_success_waiting_behind_a_heartbeat_on_its_row_still_lands(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "system.noop")
    with committed_platform.sessions.begin() as session:
        claimed = job_runs.claim(session=session, job_id=job_id, worker_id="w:1")
    assert claimed is not None

    with committed_platform.engine.connect() as beat:
        beat.execute(text("UPDATE jobs SET heartbeat_at = now() WHERE id = :id"), {"id": job_id})
        # The heartbeat holds the row; the success waits for it, then must still apply.
        threading.Timer(0.3, beat.commit).start()
        with committed_platform.sessions.begin() as session:
            held = job_runs.succeed(session=session, job=claimed, result={"ok": True})

    assert held
    job = load(committed_platform, job_id)
    assert job.status == JobStatus.SUCCEEDED and job.result == {"ok": True}


def test_a_claim_waiting_behind_another_update_of_its_row_still_lands(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "system.noop")
    with committed_platform.engine.connect() as other:
        other.execute(text("UPDATE jobs SET priority = 1 WHERE id = :id"), {"id": job_id})
        threading.Timer(0.3, other.commit).start()
        with committed_platform.sessions.begin() as session:
            claimed = job_runs.claim(session=session, job_id=job_id, worker_id="w:1")

    assert claimed is not None
    assert load(committed_platform, job_id).status == JobStatus.RUNNING


def test_a_bad_change_in_a_batch_fails_alone_and_the_writer_survives_a_lost_connection(
    settings: Settings, committed_platform: Platform, owner: uuid.UUID
) -> None:
    _, runtime = start_worker_platform(settings)
    ids = [submit_job(committed_platform, owner, "system.noop") for _ in range(8)]
    try:
        first = runtime.writer.claim(ids[0], "w:1")
        assert first is not None
        # The database ends the writer's connection (a restart, a failover, an operator).
        with committed_platform.engine.connect() as admin:
            ended = admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'backline-state-writer' "
                    "AND datname = current_database()"
                )
            ).all()
        assert ended and all(row[0] for row in ended)

        # The change that meets the dead connection is sent again, on a fresh one.
        assert runtime.writer.claim(ids[1], "w:1") is not None
        bad = ClaimedJob(**{**first.__dict__, "id": ids[2]})  # not running: held is False
        with ThreadPoolExecutor(8) as pool:
            claims = pool.map(lambda i: runtime.writer.claim(i, "w:1"), ids[3:])
            late = pool.submit(runtime.writer.succeed, bad, {"x": "\x00"})  # jsonb refuses NUL
            done = pool.submit(runtime.writer.succeed, first, {"ok": True})
            claimed = list(claims)
            assert done.result() is SuccessWrite.WRITTEN
            try:
                late.result()
                late_failed = False
            except Exception:  # noqa: BLE001 - PostgreSQL's error for the NUL character
                late_failed = True
    finally:
        runtime.close()

    assert late_failed
    assert all(c is not None for c in claimed)
    assert load(committed_platform, ids[0]).status == JobStatus.SUCCEEDED
    for job_id in ids[3:]:
        assert load(committed_platform, job_id).status == JobStatus.RUNNING


def test_a_change_the_database_refuses_fails_alone_in_its_batch(
    settings: Settings,
    committed_platform: Platform,
    owner: uuid.UUID,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, runtime = start_worker_platform(settings)
    blocker, running, *queued = (
        submit_job(committed_platform, owner, "system.noop") for _ in range(5)
    )
    try:
        job = runtime.writer.claim(running, "w:1")
        assert job is not None
        with ThreadPoolExecutor(8) as pool, committed_platform.engine.connect() as other:
            # Another transaction holds a row: the writer waits in that claim's statement,
            # and what is handed over meanwhile goes out after it as one batch.
            other.execute(text("UPDATE jobs SET priority = 1 WHERE id = :id"), {"id": blocker})
            blocked = pool.submit(runtime.writer.claim, blocker, "w:1")
            time.sleep(0.2)
            refused = pool.submit(runtime.writer.succeed, job, {"x": "\x00"})  # jsonb: no NUL
            claims = [pool.submit(runtime.writer.claim, i, "w:1") for i in queued]
            time.sleep(0.2)
            other.commit()
            assert blocked.result(10) is not None
            with pytest.raises(psycopg.DataError):
                refused.result(10)
            assert all(claim.result(10) is not None for claim in claims)
    finally:
        runtime.close()

    assert "batched state change failed; writing one by one" in caplog.text
    assert all(load(committed_platform, i).status == JobStatus.RUNNING for i in queued)
    assert load(committed_platform, running).status == JobStatus.RUNNING  # not succeeded


class _Unanswering(TcpServer):
    """Where the database should be: ends every connection unanswered after a pause (a
    database that is down behind a proxy)."""

    def __init__(self, pause_s: float) -> None:
        self.pause_s = pause_s
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        threading.Timer(self.pause_s, conn.close).start()


def test_with_the_database_out_of_reach_a_batch_fails_at_once_not_change_by_change(
    committed_platform: Platform,
) -> None:
    database = _Unanswering(pause_s=0.3)
    writer = StateWriter(
        f"postgresql://postgres@127.0.0.1:{database.port}/backline"
        "?sslmode=disable&gssencmode=disable",  # one TCP connection per attempt
        committed_platform.changes,
    )
    errors: list[BaseException] = []

    def claim() -> None:
        try:
            writer.claim(uuid.uuid4(), "w:1")
        except psycopg.OperationalError as exc:
            errors.append(exc)

    try:
        first = threading.Thread(target=claim)
        first.start()
        time.sleep(0.1)  # the writer is trying to connect for the first claim: the rest queue
        rest = [threading.Thread(target=claim) for _ in range(7)]
        for thread in rest:
            thread.start()
        for thread in [first, *rest]:
            thread.join(10)
    finally:
        writer.stop()
        database.close()

    assert len(errors) == 8
    # One attempt a batch (there was no connection to lose), and the seven queued claims make
    # one batch, two if a thread was slow to start: written change by change, as a failed
    # batch used to be, they cost one attempt each on top (9 here).
    assert database.connections <= 3


def _interrupt(thread: threading.Thread, exc: type[BaseException]) -> None:
    """Raise `exc` in `thread` wherever it is, as Dramatiq's time limit and shutdown do."""
    assert thread.ident is not None
    hits = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread.ident), ctypes.py_object(exc)
    )
    assert hits == 1


def test_worker_threads_interrupted_while_waiting_leave_the_writer_working(
    settings: Settings, committed_platform: Platform, owner: uuid.UUID
) -> None:
    _, runtime = start_worker_platform(settings)
    first, waiting, later = (submit_job(committed_platform, owner, "system.noop") for _ in range(3))
    outcome: dict[str, object] = {}

    def claim(name: str, job_id: uuid.UUID) -> None:
        try:
            outcome[name] = runtime.writer.claim(job_id, "w:1")
        except BaseException as exc:  # noqa: BLE001 - the interruption is what we look for
            outcome[name] = exc

    with committed_platform.engine.connect() as other:
        # Another transaction holds the first job's row: the writer waits in its statement.
        other.execute(text("UPDATE jobs SET priority = 1 WHERE id = :id"), {"id": first})
        threads = [
            threading.Thread(target=claim, args=("first", first)),
            threading.Thread(target=claim, args=("waiting", waiting)),
        ]
        try:
            for thread in threads:
                thread.start()
                time.sleep(0.2)
            # The second job's time limit fires while its thread waits for its answer (Python
            # delivers it once the wait ends).
            _interrupt(threads[1], TimeLimitExceeded)
        finally:
            other.commit()
        for thread in threads:
            thread.join(5)
    try:
        assert isinstance(outcome["waiting"], TimeLimitExceeded)
        assert isinstance(outcome["first"], ClaimedJob)
        # Nothing jammed: the next thread's claim is answered at once.
        started = time.monotonic()
        assert runtime.writer.claim(later, "w:1") is not None
        assert time.monotonic() - started < 2
    finally:
        runtime.close()
    # The abandoned claim was still written; the sweep recovers it once its heartbeat is stale.
    assert load(committed_platform, waiting).status == JobStatus.RUNNING


def test_a_late_success_from_a_lost_lease_is_not_held_beside_the_holders_own(
    committed_platform: Platform, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "system.noop")
    with committed_platform.sessions.begin() as session:
        holder = job_runs.claim(session=session, job_id=job_id, worker_id="w:2")
    assert holder is not None
    lost = ClaimedJob(**{**holder.__dict__, "lease_id": uuid.uuid4()})  # an older attempt

    with committed_platform.sessions.begin() as session:
        _, held = job_runs.apply_batch(
            session=session,
            worker_id="w:1",
            claims=[],
            successes=[(lost, {"from": "lost"}), (holder, {"from": "holder"})],
        )

    assert held == [False, True]
    assert load(committed_platform, job_id).result == {"from": "holder"}


def test_successes_handed_over_without_waiting_report_their_fate_once_written(
    settings: Settings, committed_platform: Platform, owner: uuid.UUID
) -> None:
    _, runtime = start_worker_platform(settings)
    ids = [submit_job(committed_platform, owner, "system.noop") for _ in range(3)]
    answers: dict[str, SuccessWrite] = {}
    caller = threading.current_thread()
    threads: set[threading.Thread] = set()

    def then(name: str) -> Callable[[SuccessWrite], None]:
        def record(written: SuccessWrite) -> None:
            answers[name] = written
            threads.add(threading.current_thread())

        return record

    try:
        ok, lost = (runtime.writer.claim(i, "w:1") for i in ids[:2])
        assert ok is not None and lost is not None
        not_held = ClaimedJob(**{**lost.__dict__, "lease_id": uuid.uuid4()})
        refused = ClaimedJob(**{**ok.__dict__, "id": ids[2]})
        runtime.writer.succeed_soon(ok, {"n": 1}, then("ok"))
        runtime.writer.succeed_soon(not_held, {"n": 2}, then("lost lease"))
        runtime.writer.succeed_soon(refused, {"x": "\x00"}, then("refused"))  # jsonb: no NUL
    finally:
        runtime.close()  # writes what is queued and runs what follows, then returns

    assert answers == {
        "ok": SuccessWrite.WRITTEN,
        "lost lease": SuccessWrite.NOT_HELD,
        "refused": SuccessWrite.FAILED,
    }
    assert caller not in threads
    assert load(committed_platform, ids[0]).result == {"n": 1}
    assert load(committed_platform, ids[1]).status == JobStatus.RUNNING
