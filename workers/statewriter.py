"""Group commit for the two state changes every job makes: claim and success.

Worker threads hand their claims and successes to one writer thread per process, which
applies whatever has queued up in a single statement each (one round trip, one commit, one
WAL flush for the lot) and hands each thread its own answer. Nothing waits on purpose: at low
load a batch holds one change and goes out at once; under load the batches grow by
themselves while the previous one is being written. Every change is still committed before
the thread goes on, so the durability is the same as writing alone.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from models import job_runs
from models.job_runs import ClaimedJob
from workers.changes import ChangeFeed

log = logging.getLogger("backline.statewriter")
MAX_BATCH = 256
ANSWER_TIMEOUT_S = 120


@dataclass
class _Request:
    op: str  # "claim" or "succeed"
    job_id: uuid.UUID
    job: ClaimedJob | None = None
    result: Any = None
    answer: Future[Any] = field(default_factory=Future)


class StateWriter:
    def __init__(self, sessions: sessionmaker[Session], changes: ChangeFeed) -> None:
        self._sessions = sessions
        self._changes = changes
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.worker_id = ""

    def claim(self, job_id: uuid.UUID, worker_id: str) -> ClaimedJob | None:
        self.worker_id = worker_id
        return self._ask(_Request("claim", job_id))  # type: ignore[no-any-return]

    def succeed(self, job: ClaimedJob, result: Any) -> bool:
        return self._ask(_Request("succeed", job.id, job=job, result=result))  # type: ignore[no-any-return]

    def stop(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(timeout=10)
                self._thread = None

    def _ask(self, request: _Request) -> Any:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="state-writer", daemon=True)
                self._thread.start()
        self._queue.put(request)
        return request.answer.result(timeout=ANSWER_TIMEOUT_S)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[_Request]) -> None:
        claims = [r for r in batch if r.op == "claim"]
        successes = [r for r in batch if r.op == "succeed"]
        try:
            with self._sessions.begin() as session:
                claimed, held = job_runs.apply_batch(
                    session=session,
                    worker_id=self.worker_id,
                    claims=[r.job_id for r in claims],
                    successes=[(r.job, r.result) for r in successes],  # type: ignore[misc]
                )
        except Exception as exc:
            if len(batch) > 1:
                # One bad request must not fail the others: write them one at a time.
                log.warning(
                    "batched state change failed; writing one by one",
                    extra={"size": len(batch)},
                    exc_info=True,
                )
                for request in batch:
                    self._write([request])
                return
            batch[0].answer.set_exception(exc)
            return
        answers = [*zip(claims, claimed, strict=True), *zip(successes, held, strict=True)]
        for request, answer in answers:
            request.answer.set_result(answer)
        # After the answers: the threads go on while the pollers are told.
        self._changes.publish_soon([r.job_id for r, answer in answers if answer])
