"""What clients read: a job (only if the viewer may see it), lists of jobs, a job's events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    bindparam,
    select,
)
from sqlalchemy.orm import Session

from models.core.access import Viewer
from models.core.db import Prepared
from models.core.errors import NotFound
from models.core.jobs.tables import (
    SNAPSHOT,
    Job,
    JobEvent,
    JobSnapshot,
    JobStatus,
)
from models.core.pages import newest_first


def get_job(
    *,
    session: Session,
    job_id: uuid.UUID,
    viewer: Viewer,
    lock: bool = False,
    include_internal: bool = False,
) -> Job:
    """The job, if the viewer may see it; another organisation's job does not exist for them.

    Internal jobs (account mails with their tokens) are no one's to read through the jobs
    API, admins' included; operators reach them through the ops API (`include_internal`),
    which hides their secrets.
    """
    query = select(Job).where(Job.id == job_id)
    if not include_internal:
        query = query.where(Job.internal.is_(False))
    if not viewer.is_admin:
        query = query.where(Job.org_id == viewer.org_id)
    if lock:
        query = query.with_for_update()
    job = session.scalar(query)
    if job is None:
        raise NotFound("job not found", details={"job_id": str(job_id)})
    return job


def _read_job(*, admin: bool) -> Prepared:
    """get_job's query for reading only: polls run it over and over."""
    columns = Job.__table__.c
    query = select(*SNAPSHOT).where(columns.id == bindparam("job_id"), columns.internal.is_(False))
    if not admin:
        query = query.where(columns.org_id == bindparam("org_id"))
    return Prepared.compile(query)


_READ_JOB = {admin: _read_job(admin=admin) for admin in (True, False)}


def read_job(*, session: Session, job_id: uuid.UUID, viewer: Viewer) -> JobSnapshot:
    """The job as the database has it now, if the viewer may see it (as `get_job`)."""
    params = {"job_id": job_id, "org_id": viewer.org_id}
    job = _READ_JOB[viewer.is_admin].fetchone(session, params, JobSnapshot.from_row)
    if job is None:
        raise NotFound("job not found", details={"job_id": str(job_id)})
    return job


@dataclass(frozen=True)
class JobFilter:
    status: JobStatus | None = None
    kind: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def list_jobs(
    *, session: Session, viewer: Viewer, filters: JobFilter, cursor: str | None, limit: int
) -> tuple[list[Job], str | None]:
    """A page of the viewer's organisation's jobs (all jobs for platform admins), newest
    first, and the cursor of the next page."""
    query = select(Job).where(Job.internal.is_(False))
    if not viewer.is_admin:
        query = query.where(Job.org_id == viewer.org_id)
    if filters.status is not None:
        query = query.where(Job.status == filters.status)
    if filters.kind is not None:
        query = query.where(Job.kind == filters.kind)
    if filters.created_after is not None:
        query = query.where(Job.created_at >= filters.created_after)
    if filters.created_before is not None:
        query = query.where(Job.created_at < filters.created_before)
    return newest_first(
        session=session,
        query=query,
        created_at=Job.created_at,
        row_id=Job.id,
        cursor=cursor,
        limit=limit,
    )


def list_events(
    *, session: Session, job_id: uuid.UUID, after_id: int = 0, limit: int = 500
) -> list[JobEvent]:
    return list(
        session.scalars(
            select(JobEvent)
            .where(JobEvent.job_id == job_id, JobEvent.id > after_id)
            .order_by(JobEvent.id)
            .limit(limit)
        )
    )
