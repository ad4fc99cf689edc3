"""/api/v1/jobs: submit jobs, follow them, list them, cancel and retry them.

Polling is meant to be cheap: GET answers 304 to a matching If-None-Match, says when to ask
again with Retry-After while the job is unfinished, and with ?wait=N holds the request open
(up to 30 s) until the job changes. A client with a short job need not poll at all: a POST
with `Prefer: wait=N` (RFC 7240) answers once the job has finished, or after N seconds. A
waiting request holds no thread (config/server.py); one user holds at most
MAX_WAITS_PER_USER of them at once (web/core/waits.py), past which a wait answers at once.
To follow a job without asking again, see its event stream (web/core/job_streams.py).
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from flask import Response, g, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from models.core import jobs as jobs_domain
from models.core import ops
from models.core.base import utcnow
from models.core.errors import InvalidInput, PermissionDenied
from models.core.jobs import Job, JobFilter, JobSnapshot, JobStatus
from web.core.auth import BEARER, auth_required, current_org_id, current_viewer
from web.core.context import db, only_reads_from_here, platform
from web.core.job_schemas import (
    IDEMPOTENCY_KEY,
    MAX_WAIT_S,
    EventPage,
    EventQuery,
    JobCreate,
    JobGetQuery,
    JobPage,
    JobQuery,
    JobRead,
    KindRead,
)
from web.core.waits import wait_slots
from workers.core import enqueue, registry
from workers.core.changes import fallback_poll_s

blp = Blueprint("jobs", __name__, url_prefix="/api/v1", description="Background jobs.")
# A wait's slot lapses this long after the wait should have ended (web/core/waits.py).
WAIT_LEASE_MARGIN_S = 30
# `wait=N` among a Prefer header's preferences (N in seconds, maybe quoted).
_PREFER_WAIT = re.compile(r'(?:^|[,;\s])wait\s*=\s*"?(\d{1,6}(?:\.\d{1,6})?)"?(?:$|[,;\s])', re.I)


# -- helpers ---------------------------------------------------------------------------------
def _audit_if_operator(job: Job, action: ops.OpsAction) -> None:
    """A platform admin acting on another organisation's job is an operator action."""
    viewer = current_viewer()
    if viewer.is_admin and job.org_id != viewer.org_id:
        ops.record(
            session=db(),
            actor_id=viewer.user_id,
            action=action,
            target=f"job:{job.id}",
            details={"via": "jobs_api", "org_id": str(job.org_id)},
        )


def _manageable(job_id: uuid.UUID) -> Job:
    """The job, locked, if the caller may cancel or retry it."""
    viewer = current_viewer()
    job = jobs_domain.get_job(session=db(), job_id=job_id, viewer=viewer, lock=True)
    if not viewer.may_manage(job):
        raise PermissionDenied(
            "only whoever submitted this job and the organization's owners and admins may "
            "cancel or retry it"
        )
    return job


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise InvalidInput(
            "Idempotency-Key must be 1 to 200 printable ASCII characters",
            details={"fields": {"Idempotency-Key": ["invalid"]}},
        )
    return key


def _retry_after_s(job: Job | JobSnapshot) -> int:
    if job.status == JobStatus.QUEUED and job.run_after > utcnow():
        return max(1, math.ceil((job.run_after - utcnow()).total_seconds()))
    return 1


_JOB_READ = JobRead()  # schemas are stateless once built; building one costs more than using it


def _job_response(job: Job | JobSnapshot, status: int = 200) -> Response:
    response = Response(_JOB_READ.dumps(job), status=status, mimetype="application/json")
    response.set_etag(job.etag)
    if not job.status.finished:
        response.headers["Retry-After"] = str(_retry_after_s(job))
    return response


def _wait_for_change(job_id: uuid.UUID, known: Any, wait_s: float) -> JobSnapshot:
    """The job, once it differs from what the client has (its ETag, or what it was at first).

    Answers at once, without subscribing, when the job has finished or the client's ETag is
    stale. Otherwise it subscribes to the job's changes and reads it again, so nothing can
    change unseen between a read and the wait; woken by the change feed, it re-reads the job
    at least every second in case a notification was lost. The database connection goes back
    to the pool while waiting.
    """
    first: set[str] = set()

    def changed(job: JobSnapshot) -> bool:
        if known:
            return not known.contains_weak(job.etag)
        if not first:
            first.add(job.etag)  # without an ETag: the job as the first read found it
        return job.etag not in first

    return _wait(job_id, wait_s, changed, look_first=True)


def _wait(
    job_id: uuid.UUID,
    wait_s: float,
    until: Callable[[JobSnapshot], bool],
    *,
    look_first: bool = False,
) -> JobSnapshot:
    """The job once `until(job)` holds, it has finished, or `wait_s` has passed.

    look_first: read the job before subscribing, and answer from that read if it will do (a
    poll often comes after the job finished, and subscribing costs a round trip to Redis).
    """
    deadline = time.monotonic() + wait_s
    if look_first:
        job = _reload(job_id)
        if until(job) or job.status.finished:
            return job
    with wait_slots().hold(current_viewer().user_id, wait_s + WAIT_LEASE_MARGIN_S) as slot:
        if slot is None:  # past the user's cap: the state now, and Retry-After says when
            return job if look_first else _reload(job_id)
        return _wait_watching(job_id, deadline, until)


def _wait_watching(
    job_id: uuid.UUID, deadline: float, until: Callable[[JobSnapshot], bool]
) -> JobSnapshot:
    db().close()  # no connection held while the subscription is made, nor while waiting
    with platform().changes.watch(job_id) as changed:
        job = _reload(job_id)
        while not until(job) and not job.status.finished:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            db().close()  # hand the connection back while waiting
            changed.wait(min(left, fallback_poll_s()))
            changed.clear()
            job = _reload(job.id)
    return job


def _preferred_wait_s() -> float:
    """`Prefer: wait=N` (RFC 7240), capped at MAX_WAIT_S; 0 without one.

    As the RFC asks, a preference that cannot be read is ignored rather than refused.
    """
    for header in request.headers.getlist("Prefer"):
        match = _PREFER_WAIT.search(header)
        if match:
            return min(float(match.group(1)), MAX_WAIT_S)
    return 0.0


def _reload(job_id: uuid.UUID) -> JobSnapshot:
    """The job as the database has it now (each read is a new snapshot)."""
    return jobs_domain.read_job(session=db(), job_id=job_id, viewer=current_viewer())


# -- views -----------------------------------------------------------------------------------
# Argument schemas are passed built: given a class, webargs builds one per request.
@blp.route("/jobs")
class Jobs(MethodView):
    @blp.arguments(JobCreate())
    @blp.response(202, JobRead)
    @blp.alt_response(
        201, schema=JobRead, description="The job finished within the wait `Prefer` asked for."
    )
    @blp.alt_response(422, description="Unknown kind or params that do not fit it.")
    @blp.doc(
        security=BEARER,
        parameters=[
            {
                "in": "header",
                "name": "Idempotency-Key",
                "schema": {"type": "string", "maxLength": 200},
            },
            {
                "in": "header",
                "name": "Prefer",
                "schema": {"type": "string", "example": "wait=5"},
                "description": "wait=N (RFC 7240): answer once the job has finished (201), "
                "or after N seconds, at most 30 (202).",
            },
        ],
    )
    @auth_required
    def post(self, body: dict[str, Any]) -> Response:
        """Submit a job; answers 202 with the job and its Location (201 if it finished)"""
        job, created = enqueue.submit(
            session=db(),
            dispatcher=platform().dispatcher,
            owner_id=current_viewer().user_id,
            org_id=current_org_id(),
            kind=registry.kind_for(body["kind"], current_viewer()),
            params=body["params"],
            priority=body["priority"],
            run_at=body.get("run_at"),
            idempotency_key=_idempotency_key(),
            request_id=g.request_id,
        )
        db().commit()
        wait_s = _preferred_wait_s()
        if wait_s:
            only_reads_from_here()
            job = _wait(job.id, wait_s, lambda j: j.status.finished)
        response = _job_response(job, 201 if job.status.finished else 202)
        response.headers["Location"] = url_for("jobs.JobItem", job_id=job.id)
        if wait_s:
            response.headers["Preference-Applied"] = f"wait={wait_s:g}"
        if not created:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    @blp.arguments(JobQuery(), location="query")
    @blp.response(200, JobPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List your organization's jobs, newest first, with filters and a cursor"""
        filters = JobFilter(
            status=query.get("status"),
            kind=query.get("kind"),
            created_after=query.get("created_after"),
            created_before=query.get("created_before"),
        )
        items, next_cursor = jobs_domain.list_jobs(
            session=db(),
            viewer=current_viewer(),
            filters=filters,
            cursor=query.get("cursor"),
            limit=query["limit"],
        )
        return {"items": items, "next_cursor": next_cursor}


@blp.route("/jobs/<uuid:job_id>")
class JobItem(MethodView):
    @blp.arguments(JobGetQuery(), location="query")
    @blp.response(200, JobRead)
    @blp.alt_response(304, description="Not modified since the ETag you sent.")
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any], job_id: uuid.UUID) -> Response:
        """The job's status, progress, attempts, result or error"""
        known = request.if_none_match
        job = _wait_for_change(job_id, known, query["wait"]) if query["wait"] else _reload(job_id)
        if known.contains_weak(job.etag):
            response = Response(status=304)
            response.set_etag(job.etag)
            if not job.status.finished:
                response.headers["Retry-After"] = str(_retry_after_s(job))
            return response
        return _job_response(job)


@blp.route("/jobs/<uuid:job_id>/events")
class JobEvents(MethodView):
    @blp.arguments(EventQuery(), location="query")
    @blp.response(200, EventPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any], job_id: uuid.UUID) -> dict[str, Any]:
        """The job's history, oldest first (pass ?after=<last id> for newer ones)"""
        _reload(job_id)  # NotFound unless the caller may see the job
        events = jobs_domain.list_events(session=db(), job_id=job_id, after_id=query["after"])
        return {"items": events}


@blp.route("/jobs/<uuid:job_id>/cancel")
class JobCancel(MethodView):
    @blp.response(200, JobRead)
    @blp.alt_response(409, description="The job already finished.")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, job_id: uuid.UUID) -> Response:
        """Cancel: a queued job at once, a running one at its next check"""
        job = _manageable(job_id)
        jobs_domain.request_cancel(session=db(), job=job)
        _audit_if_operator(job, ops.OpsAction.CANCEL)
        db().commit()
        return _job_response(job)


@blp.route("/jobs/<uuid:job_id>/retry")
class JobRetry(MethodView):
    @blp.response(202, JobRead)
    @blp.alt_response(409, description="Only failed or cancelled jobs can be retried.")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, job_id: uuid.UUID) -> Response:
        """Run a failed or cancelled job again, with a fresh set of attempts"""
        job = _manageable(job_id)
        enqueue.retry(
            session=db(),
            dispatcher=platform().dispatcher,
            kind=registry.get_kind(job.kind),
            job=job,
        )
        _audit_if_operator(job, ops.OpsAction.RETRY)
        db().commit()
        return _job_response(job, 202)


@blp.route("/job-kinds")
class JobKinds(MethodView):
    @blp.response(200, KindRead(many=True))
    @blp.doc(security=BEARER)
    @auth_required
    def get(self) -> list[Any]:
        """The job kinds you may submit"""
        viewer = current_viewer()
        return [k for k in registry.load_kinds().values() if registry.may_see(k, viewer)]
