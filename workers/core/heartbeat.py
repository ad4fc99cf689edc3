"""The leases a worker process holds, kept alive in the database by one thread.

Every `heartbeat_interval_s` the thread refreshes the heartbeat of all the jobs this process
runs in one statement, and brings back where each stands (a `Hold`: held, cancel requested,
or lost to the sweep) for the jobs to see at their next check-in, without a query of their
own. The same thread refreshes the worker's presence record in Redis (workers/core/presence.py).
"""

from __future__ import annotations

import logging
import threading
import uuid

from sqlalchemy.orm import Session, sessionmaker

from models.core import job_runs
from models.core.job_runs import ClaimedJob, Hold
from workers.core.presence import Announcer

log = logging.getLogger("backline.worker")


class Heartbeat:
    """The leases held by this process's running attempts, and the thread that beats for them."""

    def __init__(
        self, sessions: sessionmaker[Session], announcer: Announcer, interval_s: float
    ) -> None:
        self.sessions = sessions
        self.announcer = announcer
        self.interval_s = interval_s
        self._leases: dict[uuid.UUID, uuid.UUID] = {}
        self._holds: dict[uuid.UUID, Hold] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, worker_id: str, queues: list[str]) -> None:
        """Start beating for held jobs, and announce the worker (on `queues`) in Redis."""
        try:
            self.announcer.start(worker_id, queues)
        except Exception:
            log.warning("could not announce the worker; retrying with the heartbeat", exc_info=True)
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._beat, name="job-heartbeat", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop beating, and withdraw the worker's presence record."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        try:
            self.announcer.stop()
        except Exception:
            log.warning("could not withdraw the worker's presence record", exc_info=True)

    def hold(self, job: ClaimedJob) -> None:
        """Beat for this attempt's lease from now on."""
        with self._lock:
            self._leases[job.id] = job.lease_id
            self._holds[job.id] = Hold.HELD

    def release(self, job: ClaimedJob) -> bool:
        """Let go of this attempt's lease; False if it is not held (already let go, or a newer
        attempt of the job holds its own)."""
        with self._lock:
            if self._leases.get(job.id) != job.lease_id:
                return False
            del self._leases[job.id]
            self._holds.pop(job.id, None)
            return True

    def held(self) -> int:
        """How many leases this process holds."""
        with self._lock:
            return len(self._leases)

    def hold_of(self, job_id: uuid.UUID) -> Hold:
        """Where the job stood at the latest heartbeat."""
        with self._lock:
            return self._holds.get(job_id, Hold.HELD)

    def beat_once(self) -> None:
        with self._lock:
            leases = dict(self._leases)
        if not leases:
            return
        with self.sessions.begin() as session:
            alive = job_runs.heartbeat(session=session, leases=leases)
        with self._lock:
            for job_id, lease in leases.items():
                # A job may have finished and a new attempt begun here meanwhile: the answer
                # is about the lease we beat for, and says nothing about a newer one.
                if self._leases.get(job_id) == lease:
                    self._holds[job_id] = alive.get(job_id, Hold.LOST)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.announcer.beat()
            except Exception:
                log.warning("presence heartbeat failed", exc_info=True)
            try:
                self.beat_once()
            except Exception:
                log.warning("heartbeat failed", exc_info=True)
