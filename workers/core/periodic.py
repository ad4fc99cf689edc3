"""Periodic jobs: a job kind that the scheduler also submits on a schedule.

    @periodic("accounts.prune_login_attempts", every_s=3600)
    def prune(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]: ...

    @periodic("assistant.daily_notifications", cron="0 6 * * *")  # UTC

declares the handler as a job kind (admins only, counted against no quota) and gives it a
schedule: every N seconds (slots at whole multiples of N since the epoch, so every scheduler
agrees on them) or a five-field cron expression read in UTC. Each slot's job is an ordinary
tracked job — retries, history, the dead-letter set — owned by no user nor organisation, and
its params name the slot it runs for. `enqueue_due` is what the scheduler calls: the slot is
claimed and its job stored in one transaction (models/core/schedules.py), so a slot runs
exactly once however many schedulers run, and a scheduler that was away runs the latest missed
slot once.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cronsim import CronSim, CronSimError
from marshmallow import Schema, fields
from sqlalchemy.orm import Session, sessionmaker

from models.core import schedules
from models.core.base import utcnow
from models.core.jobs import JobStatus, NewJob, create_job
from workers.core.enqueue import Dispatch, Dispatcher, validate_params
from workers.core.registry import Handler, get_kind, job_kind, load_kinds

log = logging.getLogger("backline.periodic")
MAX_BACKOFF_S = 60.0
CRON_FIELDS = 5  # minute hour day-of-month month day-of-week


class SlotParams(Schema):
    slot = fields.AwareDateTime(
        required=True, metadata={"description": "The scheduled moment this run is for (UTC)."}
    )


@dataclass(frozen=True)
class Schedule:
    """When a periodic kind runs: every `every_s` seconds, or at the slots of `cron`."""

    name: str
    every_s: int | None = None
    cron: str | None = None

    def __post_init__(self) -> None:
        if (self.every_s is None) == (self.cron is None):
            raise ValueError(f"periodic job {self.name!r}: give every_s or cron, not both")
        if self.every_s is not None and self.every_s < 1:
            raise ValueError(f"periodic job {self.name!r}: every_s must be at least 1")
        if self.cron is not None:
            if len(self.cron.split()) != CRON_FIELDS:
                # cronsim would read a sixth field as seconds; slots here are whole minutes.
                raise ValueError(
                    f"periodic job {self.name!r}: cron {self.cron!r} needs five fields "
                    "(minute hour day-of-month month day-of-week)"
                )
            try:
                CronSim(self.cron, datetime(2000, 1, 1, tzinfo=UTC))
            except CronSimError as exc:
                raise ValueError(
                    f"periodic job {self.name!r}: bad cron {self.cron!r}: {exc}"
                ) from None

    def latest_slot(self, now: datetime) -> datetime:
        """The last slot at or before `now`."""
        now = now.astimezone(UTC)
        if self.every_s is not None:
            epoch_s = int(now.timestamp()) // self.every_s * self.every_s
            return datetime.fromtimestamp(epoch_s, UTC)
        # CronSim steps from a start it excludes, in whole minutes: start past this minute.
        after = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        return next(CronSim(str(self.cron), after, reverse=True))

    def next_slot(self, now: datetime) -> datetime:
        """The first slot after `now`."""
        now = now.astimezone(UTC)
        if self.every_s is not None:
            return self.latest_slot(now) + timedelta(seconds=self.every_s)
        return next(CronSim(str(self.cron), now))

    @property
    def spelled(self) -> str:
        return f"every {self.every_s} s" if self.every_s is not None else f"cron {self.cron} (UTC)"


_SCHEDULES: dict[str, Schedule] = {}


def periodic(
    name: str, *, every_s: int | None = None, cron: str | None = None, **limits: Any
) -> Callable[[Handler], Handler]:
    """Declare the decorated function as job kind `name`, run on a schedule (see above).

    `limits` are the kind's (queue, max_attempts, time_limit_ms, ...), as for `job_kind`.
    """
    schedule = Schedule(name, every_s, cron)

    def register(handler: Handler) -> Handler:
        job_kind(name, params=SlotParams, admin_only=True, counts_toward_quota=False, **limits)(
            handler
        )
        _SCHEDULES[name] = schedule
        return handler

    return register


def load_schedules() -> dict[str, Schedule]:
    """Every declared schedule (imports the domains' job modules on first use)."""
    load_kinds()
    return dict(_SCHEDULES)


@dataclass(frozen=True)
class ScheduleState:
    """A schedule as operators see it."""

    name: str
    description: str
    queue: str
    every: str
    last_slot_at: datetime | None
    last_job_id: uuid.UUID | None
    last_job_status: JobStatus | None
    next_slot_at: datetime


def states(*, session: Session, now: datetime | None = None) -> list[ScheduleState]:
    """Every declared schedule with its last run and its next slot."""
    now = now or utcnow()
    runs = schedules.last_runs(session=session)
    out = []
    for name, schedule in sorted(load_schedules().items()):
        kind = get_kind(name)
        row, status = runs.get(name, (None, None))
        out.append(
            ScheduleState(
                name=name,
                description=kind.description if kind else "",
                queue=kind.queue if kind else "",
                every=schedule.spelled,
                last_slot_at=row.last_slot_at if row else None,
                last_job_id=row.last_job_id if row else None,
                last_job_status=status,
                next_slot_at=schedule.next_slot(now),
            )
        )
    return out


@dataclass
class Backoff:
    """Schedules whose last submission failed, held back for a while (one scheduler's memory):
    a slot that cannot be stored is tried again after 1, 2, 4… s, at most a minute apart,
    rather than every tick."""

    failures: dict[str, int] = field(default_factory=dict)
    until: dict[str, float] = field(default_factory=dict)

    def ready(self, name: str) -> bool:
        return time.monotonic() >= self.until.get(name, 0.0)

    def failed(self, name: str) -> float:
        """Count a failure; how long `name` is now held back (seconds)."""
        self.failures[name] = self.failures.get(name, 0) + 1
        delay = min(MAX_BACKOFF_S, 2.0 ** (self.failures[name] - 1))
        self.until[name] = time.monotonic() + delay
        return delay

    def succeeded(self, name: str) -> None:
        self.failures.pop(name, None)
        self.until.pop(name, None)


def enqueue_due(
    *,
    sessions: sessionmaker[Session],
    dispatcher: Dispatcher,
    now: datetime | None = None,
    backoff: Backoff | None = None,
) -> list[str]:
    """Submit the job of every schedule whose latest slot has not run; the names submitted.

    One transaction per schedule, so a failing one holds no other back; a slot whose
    transaction failed is claimed again later (at once, or after `backoff`'s delay).
    """
    now = now or utcnow()
    with sessions.begin() as session:
        known = {
            name: row.last_slot_at for name, row in schedules.last_slots(session=session).items()
        }
    submitted = []
    for name, schedule in sorted(load_schedules().items()):
        slot = schedule.latest_slot(now)
        if name in known and known[name] >= slot:
            continue  # run already: the common case costs no write
        if backoff is not None and not backoff.ready(name):
            continue
        try:
            with sessions.begin() as session:
                if _claim(session, name, slot, first=name not in known):
                    _submit(session, dispatcher, name, slot)
                    submitted.append(name)
        except Exception:
            delay = backoff.failed(name) if backoff is not None else 0.0
            log.warning(
                "periodic job not submitted; trying again in %g s",
                delay,
                extra={"kind": name, "slot": slot.isoformat()},
                exc_info=True,
            )
        else:
            if backoff is not None:
                backoff.succeeded(name)
    return submitted


def _claim(session: Session, name: str, slot: datetime, *, first: bool) -> bool:
    if first and schedules.first_seen(session=session, name=name, slot=slot):
        return False  # a new schedule starts with the next slot
    return schedules.claim_slot(session=session, name=name, slot=slot)


def _submit(session: Session, dispatcher: Dispatcher, name: str, slot: datetime) -> None:
    kind = get_kind(name)
    assert kind is not None  # noqa: S101 - every schedule is declared with its kind
    new = NewJob(
        kind=kind.name,
        queue=kind.queue,
        params=validate_params(kind, {"slot": slot.isoformat()}),
        max_attempts=kind.max_attempts,
        internal=True,  # the platform's own: operators see it, no organisation does
    )
    job, _ = create_job(session=session, owner_id=None, org_id=None, new=new)
    schedules.record_job(session=session, name=name, job_id=job.id)
    dispatcher.send_after_commit(session, Dispatch.of(job))
    log.info("periodic job submitted", extra={"kind": name, "slot": slot.isoformat()})
