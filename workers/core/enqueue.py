"""Submitting jobs: the job row first, the broker message only after the commit.

`submit` stores the job (and its first event) in the caller's transaction and notes a message
to send. The dispatcher, installed on the session factory, sends the noted messages once the
transaction commits and drops them if it rolls back, so no caller can enqueue a job that was
never stored. If the broker is down at that moment the job is still safe in PostgreSQL and
the recovery sweep sends it later.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from dramatiq import Broker, Message
from marshmallow import ValidationError
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from models.core import job_runs
from models.core.base import utcnow
from models.core.errors import InvalidInput
from models.core.jobs import Job, JobSnapshot, NewJob, create_job, create_jobs
from models.core.jobs import redrive as redrive_job
from models.core.quotas import consume_job_quota
from workers.core.broker import capabilities
from workers.core.changes import announce_after_commit, org_jobs_channel
from workers.core.registry import JobKind

log = logging.getLogger(__name__)
_PENDING = "backline.pending_messages"
# Messages sent per round trip to the broker (a batch's, or a recovery sweep's).
MAX_SEND_BATCH = 500


@dataclass(frozen=True)
class Dispatch:
    """One message to send: which job, on which queue, for which actor."""

    job_id: uuid.UUID
    kind: str
    queue: str
    message_id: str
    priority: int = 0
    delay_ms: int | None = None

    @classmethod
    def of(cls, job: Job | JobSnapshot, *, delay_ms: int | None = None) -> Dispatch:
        """The message for a stored job."""
        return cls(
            job.id, job.kind, job.queue, job.message_id or str(job.id), job.priority, delay_ms
        )


def build_message(dispatch: Dispatch, *, priority: bool) -> Message:
    """The job's message; with `priority`, for a broker whose messages carry one."""
    options: dict = {}
    if priority:
        options["broker_priority"] = dispatch.priority
    return Message(
        queue_name=dispatch.queue,
        actor_name=dispatch.kind,
        args=(str(dispatch.job_id),),
        kwargs={},
        options=options,
        message_id=dispatch.message_id,
    )


class Dispatcher:
    """Sends broker messages for jobs, after the transaction that stored them commits."""

    def __init__(self, broker: Broker, engine: Engine) -> None:
        self.broker = broker
        self.engine = engine
        self.capabilities = capabilities(broker)

    def install(self, factory: sessionmaker[Session]) -> None:
        event.listen(factory, "after_commit", self._after_commit)
        event.listen(factory, "after_soft_rollback", self._after_rollback)

    def send_after_commit(self, session: Session, dispatch: Dispatch) -> None:
        session.info.setdefault(_PENDING, []).append(dispatch)

    def send(self, dispatches: list[Dispatch]) -> list[uuid.UUID]:
        """Send now, in one round trip per MAX_SEND_BATCH where the broker can; returns the
        ids of the jobs the broker accepted (failures are logged)."""
        enqueue_many = self.capabilities.enqueue_many
        if enqueue_many is None:
            return [d.job_id for d in dispatches if self._send_one(d)]
        sent = []
        for first in range(0, len(dispatches), MAX_SEND_BATCH):
            chunk = dispatches[first : first + MAX_SEND_BATCH]
            messages = [(self._message(d), d.delay_ms) for d in chunk]
            try:
                outcomes = enqueue_many(messages)
            except Exception as exc:  # noqa: BLE001 - logged per job below, as one refusal
                outcomes = [exc] * len(chunk)
            for dispatch, error in zip(chunk, outcomes, strict=True):
                if error is None:
                    sent.append(dispatch.job_id)
                else:
                    _log_unsent(dispatch, error)
        return sent

    def _send_one(self, dispatch: Dispatch) -> bool:
        try:
            self.broker.enqueue(self._message(dispatch), delay=dispatch.delay_ms)
        except Exception as exc:  # noqa: BLE001 - the job row is committed; the sweep sends it
            _log_unsent(dispatch, exc)
            return False
        return True

    def _message(self, dispatch: Dispatch) -> Message:
        return build_message(dispatch, priority=self.capabilities.priority)

    def _after_commit(self, session: Session) -> None:
        if session.get_nested_transaction() is not None:
            return  # a savepoint was released; the transaction itself is still open
        pending = session.info.pop(_PENDING, None)
        if not pending:
            return
        sent = set(self.send(pending))
        unsent = [d.job_id for d in pending if d.job_id not in sent]
        if not unsent:
            return
        try:  # so the sweep knows at once that these were never sent
            with Session(self.engine) as s, s.begin():
                job_runs.mark_not_enqueued(session=s, job_ids=unsent)
        except Exception:
            log.warning("could not record the failed enqueue", exc_info=True)

    def _after_rollback(self, session: Session, previous_transaction: SessionTransaction) -> None:
        if previous_transaction.parent is None:
            session.info.pop(_PENDING, None)


def _log_unsent(dispatch: Dispatch, error: BaseException) -> None:
    # The job row is committed; the recovery sweep will send it.
    log.warning(
        "enqueue failed; the recovery sweep will send the job later",
        extra={"job_id": str(dispatch.job_id)},
        exc_info=error,
    )


def delay_ms_until(when: datetime | None) -> int | None:
    if when is None:
        return None
    ms = int((when - utcnow()).total_seconds() * 1000)
    return ms if ms > 0 else None


def validate_params(kind: JobKind, params: dict) -> dict:
    """The params in their stored form, if they fit the kind's schema (InvalidInput if not)."""
    schema = kind.schema
    try:
        return dict(schema.dump(schema.load(params)))
    except ValidationError as exc:
        raise InvalidInput(
            "the params do not fit the job kind", details={"fields": {"params": exc.messages}}
        ) from None


def submit(
    *,
    session: Session,
    dispatcher: Dispatcher,
    owner_id: uuid.UUID,
    org_id: uuid.UUID,
    kind: JobKind,
    params: dict,
    priority: int = 0,
    run_at: datetime | None = None,
    idempotency_key: str | None = None,
    request_id: str | None = None,
    internal: bool = False,
) -> tuple[JobSnapshot, bool]:
    """Store a job of `kind` and send it once the caller commits.

    Returns (job, created); created is False when an idempotency key matched an earlier job.
    A new job counts against the organisation's daily quota (QuotaExceeded when it is used
    up), unless its kind does not count or the platform submits it for itself (`internal`).
    """
    new = NewJob(
        kind=kind.name,
        queue=kind.queue,
        params=validate_params(kind, params),
        max_attempts=kind.max_attempts,
        priority=priority,
        run_at=run_at,
        idempotency_key=idempotency_key,
        request_id=request_id,
        internal=internal,
    )
    job, created = create_job(session=session, owner_id=owner_id, org_id=org_id, new=new)
    if created and kind.counts_toward_quota and not internal:
        consume_job_quota(session=session, org_id=org_id)
    if created:
        dispatcher.send_after_commit(session, Dispatch.of(job, delay_ms=delay_ms_until(run_at)))
        if not internal:  # the organisation's job stream shows it
            announce_after_commit(session, [org_jobs_channel(org_id)])
    return job, created


@dataclass(frozen=True)
class Submission:
    """A job to submit: its kind, its params (checked, in their stored form) and its options.

    Made by `checked`, so that its params have passed the kind's schema.
    """

    kind: JobKind
    params: dict
    priority: int = 0
    run_at: datetime | None = None
    idempotency_key: str | None = None

    @classmethod
    def checked(
        cls,
        kind: JobKind,
        params: dict,
        *,
        priority: int = 0,
        run_at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> Submission:
        """The submission, if `params` fit the kind's schema (InvalidInput if not)."""
        return cls(kind, validate_params(kind, params), priority, run_at, idempotency_key)


def submit_many(
    *,
    session: Session,
    dispatcher: Dispatcher,
    owner_id: uuid.UUID,
    org_id: uuid.UUID,
    submissions: Sequence[Submission],
    request_id: str | None = None,
) -> list[tuple[JobSnapshot, bool]]:
    """Store many jobs in the caller's transaction, in one statement, and send them once it
    commits, in one round trip to the broker.

    Returns (job, created) for each, in order; as with `submit`, an idempotency key the owner
    already used answers the job it made (created False), and one used for something else is
    a Conflict (details.items names the items). Keys must differ within one call. The new
    jobs that count are charged to the organisation's daily quota at once: past it, the
    whole call is refused (QuotaExceeded) and the caller's rollback leaves nothing behind.
    """
    news = [
        NewJob(
            kind=s.kind.name,
            queue=s.kind.queue,
            params=s.params,
            max_attempts=s.kind.max_attempts,
            priority=s.priority,
            run_at=s.run_at,
            idempotency_key=s.idempotency_key,
            request_id=request_id,
        )
        for s in submissions
    ]
    results = create_jobs(session=session, owner_id=owner_id, org_id=org_id, news=news)
    created = [(job, s) for (job, new), s in zip(results, submissions, strict=True) if new]
    counted = sum(1 for _, s in created if s.kind.counts_toward_quota)
    if counted:
        consume_job_quota(session=session, org_id=org_id, count=counted)
    for job, s in created:
        dispatcher.send_after_commit(session, Dispatch.of(job, delay_ms=delay_ms_until(s.run_at)))
    if created:
        announce_after_commit(session, [org_jobs_channel(org_id)])
    return results


def redrive(*, session: Session, dispatcher: Dispatcher, job: Job) -> Job:
    """Queue a failed or cancelled job again (out of the dead-letter set) and send it."""
    redrive_job(session=session, job=job)
    dispatcher.send_after_commit(session, Dispatch.of(job))
    return job


def retry(*, session: Session, dispatcher: Dispatcher, kind: JobKind | None, job: Job) -> Job:
    """A user's retry of a failed or cancelled job: it counts against the organisation's
    daily quota as a new submission would (QuotaExceeded when it is used up), then is queued
    again. Operators' re-drives (`redrive`) count against nothing."""
    counts = kind is not None and kind.counts_toward_quota and not job.internal
    if counts and job.org_id is not None:
        consume_job_quota(session=session, org_id=job.org_id)
    return redrive(session=session, dispatcher=dispatcher, job=job)
