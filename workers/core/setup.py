"""Wiring a process to the job platform: broker, database, dispatcher and actors.

The API process needs a dispatcher (to submit); worker processes also need the runtime and one
Dramatiq actor per job kind. Nothing here runs at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

import dramatiq
from dramatiq import Broker
from dramatiq.middleware import Middleware
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from models.core.db import make_engine, make_session_factory
from workers.core.broker import build_broker, capabilities
from workers.core.changes import ChangeFeed
from workers.core.enqueue import Dispatcher
from workers.core.pauses import PausedQueues, PauseMiddleware
from workers.core.registry import JobKind, load_kinds
from workers.core.tracking import Runtime


@dataclass
class Platform:
    """What a process holds to submit jobs and, in workers, to run them."""

    settings: Settings
    broker: Broker
    engine: Engine
    sessions: sessionmaker[Session]
    dispatcher: Dispatcher
    changes: ChangeFeed
    # Sessions for read-only work, one autocommit statement at a time (None: use `sessions`).
    read_sessions: sessionmaker[Session] | None = None


def connect(
    settings: Settings,
    *,
    broker: Broker | None = None,
    engine: Engine | None = None,
    pool_size: int | None = None,
) -> Platform:
    """Build the broker, engine and a session factory that sends messages after commit."""
    broker = broker or build_broker(settings)
    engine = engine or make_engine(settings, pool_size=pool_size)
    sessions = make_session_factory(engine)
    dispatcher = Dispatcher(broker, engine)
    dispatcher.install(sessions)
    changes = ChangeFeed(settings.redis_url, settings.broker_namespace)
    changes.install(sessions)
    for queue in {kind.queue for kind in load_kinds().values()}:
        broker.declare_queue(queue)
    read_sessions = make_session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))
    return Platform(settings, broker, engine, sessions, dispatcher, changes, read_sessions)


class HeartbeatMiddleware(Middleware):
    """Starts the runtime's heartbeat with the worker; on shutdown, stops the consumers taking
    messages (workers/core/wakeup.py) and starts the running jobs' grace (workers/core/tracking.py);
    stops the heartbeat once the worker has stopped."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def after_worker_boot(self, broker: Broker, worker: object) -> None:
        consumed = getattr(worker, "queues", None) or broker.get_declared_queues()
        self.runtime.start_heartbeat(sorted(q for q in consumed if not q.endswith((".DQ", ".XQ"))))

    def before_worker_shutdown(self, broker: Broker, worker: object) -> None:
        # Dramatiq waits for running jobs before it stops: past their grace, long ones are
        # queued again at their next check-in rather than holding the shutdown. Meanwhile
        # its consumers would go on fetching messages for threads that have stopped.
        drain = capabilities(broker).drain
        if drain is not None:
            drain()
        self.runtime.begin_shutdown()

    def after_worker_shutdown(self, broker: Broker, worker: object) -> None:
        # After, not before: Dramatiq lets running jobs finish during its shutdown, and they
        # must keep their heartbeat meanwhile or the sweep would hand them to another worker.
        self.runtime.close()


def declare_actors(platform: Platform, runtime: Runtime) -> dict[str, dramatiq.Actor]:
    """One actor per job kind, all running through the tracking runtime."""
    actors = {}
    for kind in load_kinds().values():
        actors[kind.name] = dramatiq.Actor(
            _performer(runtime, kind),
            broker=platform.broker,
            actor_name=kind.name,
            queue_name=kind.queue,
            priority=0,
            options={"time_limit": kind.time_limit_ms, "max_retries": 5},
        )
    return actors


def _performer(runtime: Runtime, kind: JobKind):  # type: ignore[no-untyped-def]
    def perform(job_id: str) -> None:
        runtime.perform(kind, job_id)

    perform.__name__ = kind.name.replace(".", "_")
    return perform


def start_worker_platform(settings: Settings) -> tuple[Platform, Runtime]:
    """Everything a worker process needs; its actors are declared on the returned broker."""
    platform = connect(settings, pool_size=2)
    # The state changes of running jobs are single statements: autocommit saves two round
    # trips each. Job code that needs a transaction uses platform.sessions.
    state_engine = make_engine(settings, pool_size=settings.worker_threads + 2, autocommit=True)
    # Claims and successes go through the runtime's group-commit writer, on a connection of
    # its own (workers/core/statewriter.py).
    runtime = Runtime(
        settings,
        make_session_factory(state_engine),
        platform.dispatcher,
        platform.changes,
        job_sessions=platform.sessions,
    )
    platform.broker.add_middleware(HeartbeatMiddleware(runtime))
    platform.broker.add_middleware(PauseMiddleware(PausedQueues(runtime.sessions)))
    declare_actors(platform, runtime)
    dramatiq.set_broker(platform.broker)
    return platform, runtime
