"""/api/v1/admin/ops: what operators see and do (platform admins only).

Queues with their broker depth and job counts, throughput and latency, the workers alive, the
periodic jobs' schedules, a search over every organisation's jobs with full detail, and the
actions: retry, cancel, re-drive the dead-letter set, pause and resume a queue. Every action
needs {"confirm": true} and is written to the audit log in the same transaction as its effect.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from models.core import jobs as jobs_domain
from models.core import ops as ops_domain
from models.core import ops_stats
from models.core.access import Viewer
from models.core.jobs import Job
from models.core.ops import DeadLetterKind, OpsAudit, RedriveRequest
from web.core.auth import BEARER, admin_required, current_viewer
from web.core.context import db, platform
from web.core.ops_schemas import (
    AdminJobDetail,
    AdminJobPage,
    AdminJobQuery,
    AdminJobRead,
    AuditPage,
    AuditQuery,
    Confirmed,
    DeadLetterKindRead,
    QueueActionRead,
    QueueRead,
    RedriveBody,
    RedriveRead,
    ScheduleRead,
    StatsQuery,
    StatsRead,
    WorkerRead,
)
from workers.core import ops, periodic
from workers.core.ops import QueueState, WorkerState
from workers.core.periodic import ScheduleState

blp = Blueprint(
    "admin_ops",
    __name__,
    url_prefix="/api/v1/admin/ops",
    description="Operations: queues, workers, jobs and operator actions (platform admins).",
)
CONFIRM_422 = "Missing confirmation, or a body that is not valid."


def _queue(name: str) -> QueueState:
    return next(q for q in ops.queue_states(session=db(), platform=platform()) if q.name == name)


# -- reading ---------------------------------------------------------------------------------
@blp.route("/queues")
class Queues(MethodView):
    @blp.response(200, QueueRead(many=True))
    @blp.doc(security=BEARER)
    @admin_required
    def get(self) -> list[QueueState]:
        """Every queue: broker depth, queued, delayed, running and dead-letter jobs, paused"""
        return ops.queue_states(session=db(), platform=platform())


@blp.route("/stats")
class Stats(MethodView):
    @blp.arguments(StatsQuery, location="query")
    @blp.response(200, StatsRead)
    @blp.doc(security=BEARER)
    @admin_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Throughput and failure rate per minute, queue wait and run time p50/p95 per kind"""
        window = query["window"]
        return {
            "window_s": window,
            "throughput": ops_stats.throughput(session=db(), window_s=window),
            "latency": ops_stats.latency(session=db(), window_s=window),
        }


@blp.route("/schedules")
class Schedules(MethodView):
    @blp.response(200, ScheduleRead(many=True))
    @blp.doc(security=BEARER)
    @admin_required
    def get(self) -> list[ScheduleState]:
        """The periodic jobs: when each runs, its last run and its next slot"""
        return periodic.states(session=db())


@blp.route("/workers")
class Workers(MethodView):
    @blp.response(200, WorkerRead(many=True))
    @blp.doc(security=BEARER)
    @admin_required
    def get(self) -> list[WorkerState]:
        """The worker processes alive (heartbeat within three intervals) and their jobs"""
        return ops.workers_alive(session=db(), platform=platform())


@blp.route("/jobs")
class Jobs(MethodView):
    @blp.arguments(AdminJobQuery, location="query")
    @blp.response(200, AdminJobPage)
    @blp.doc(security=BEARER)
    @admin_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Search every organisation's jobs, newest first, with a cursor"""
        search = ops_stats.JobSearch(
            job_id=query.get("id"),
            kind=query.get("kind"),
            queue=query.get("queue"),
            statuses=tuple(query.get("status") or ()),
            org_id=query.get("org_id"),
            owner_id=query.get("owner_id"),
            worker_id=query.get("worker_id"),
            created_after=query.get("created_after"),
            created_before=query.get("created_before"),
        )
        items, next_cursor = ops_stats.search_jobs(
            session=db(), search=search, cursor=query.get("cursor"), limit=query["limit"]
        )
        return {"items": items, "next_cursor": next_cursor}


@blp.route("/jobs/<uuid:job_id>")
class JobDetail(MethodView):
    @blp.response(200, AdminJobDetail)
    @blp.doc(security=BEARER)
    @admin_required
    def get(self, job_id: uuid.UUID) -> dict[str, Any]:
        """A job in full: params, progress, attempts, history, error with traceback, result"""
        viewer = Viewer(user_id=current_viewer().user_id, is_admin=True)
        job = jobs_domain.get_job(session=db(), job_id=job_id, viewer=viewer, include_internal=True)
        events = jobs_domain.list_events(session=db(), job_id=job.id)
        return {"job": job, "events": events}


@blp.route("/audit")
class Audit(MethodView):
    @blp.arguments(AuditQuery, location="query")
    @blp.response(200, AuditPage)
    @blp.doc(security=BEARER)
    @admin_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The operators' actions, newest first (pass next_cursor as ?cursor= for older)"""
        items, next_cursor = ops_domain.list_audit(
            session=db(), before_id=query.get("cursor"), limit=query["limit"]
        )
        emails = ops_domain.actor_emails(session=db(), entries=items)
        return {"items": [_audit_item(e, emails) for e in items], "next_cursor": next_cursor}


def _audit_item(entry: OpsAudit, emails: dict[uuid.UUID, str]) -> dict[str, Any]:
    actor = entry.actor_id
    return {
        "id": entry.id,
        "actor_id": actor,
        "actor_email": emails.get(actor) if actor is not None else None,
        "action": entry.action,
        "target": entry.target,
        "details": entry.details,
        "at": entry.at,
    }


@blp.route("/dead-letter")
class DeadLetter(MethodView):
    @blp.response(200, DeadLetterKindRead(many=True))
    @blp.doc(security=BEARER)
    @admin_required
    def get(self) -> list[DeadLetterKind]:
        """The dead-letter set (failed jobs) by kind, largest first"""
        return ops_domain.dead_letter_by_kind(session=db())


# -- acting ----------------------------------------------------------------------------------
@blp.route("/jobs/<uuid:job_id>/retry")
class JobRetry(MethodView):
    @blp.arguments(Confirmed)
    @blp.response(202, AdminJobRead)
    @blp.alt_response(409, description="Only failed or cancelled jobs can be retried.")
    @blp.alt_response(422, description=CONFIRM_422)
    @blp.doc(security=BEARER)
    @admin_required
    def post(self, body: dict[str, Any], job_id: uuid.UUID) -> Job:
        """Run a failed or cancelled job again with fresh attempts (audited)"""
        job = ops.retry_job(
            session=db(),
            platform=platform(),
            actor_id=current_viewer().user_id,
            job_id=job_id,
            reason=body.get("reason"),
        )
        db().commit()
        return job


@blp.route("/jobs/<uuid:job_id>/cancel")
class JobCancel(MethodView):
    @blp.arguments(Confirmed)
    @blp.response(200, AdminJobRead)
    @blp.alt_response(409, description="The job already finished.")
    @blp.alt_response(422, description=CONFIRM_422)
    @blp.doc(security=BEARER)
    @admin_required
    def post(self, body: dict[str, Any], job_id: uuid.UUID) -> Job:
        """Cancel a queued job, or ask a running one to stop (audited)"""
        job = ops.cancel_job(
            session=db(),
            actor_id=current_viewer().user_id,
            job_id=job_id,
            reason=body.get("reason"),
        )
        db().commit()
        return job


@blp.route("/dead-letter/redrive")
class DeadLetterRedrive(MethodView):
    @blp.arguments(RedriveBody)
    @blp.response(202, RedriveRead)
    @blp.alt_response(422, description=CONFIRM_422 + " Name a kind or job_ids.")
    @blp.doc(security=BEARER)
    @admin_required
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue failed jobs again: some by id, or the oldest of a kind, one bounded batch"""
        request = RedriveRequest(
            kind=body.get("kind"), job_ids=tuple(body.get("job_ids") or ()), limit=body["limit"]
        )
        report = ops.redrive_dead_letter(
            session=db(),
            platform=platform(),
            actor_id=current_viewer().user_id,
            request=request,
            reason=body.get("reason"),
        )
        db().commit()
        return {
            "redriven": len(report.redriven),
            "job_ids": report.redriven,
            "remaining": report.remaining,
        }


def _set_paused(name: str, body: dict[str, Any], paused: bool) -> dict[str, Any]:
    changed = ops.set_paused(
        session=db(),
        actor_id=current_viewer().user_id,
        queue=name,
        paused=paused,
        reason=body.get("reason"),
    )
    db().commit()
    return {"queue": _queue(name), "changed": changed}


@blp.route("/queues/<string:name>/pause")
class QueuePause(MethodView):
    @blp.arguments(Confirmed)
    @blp.response(200, QueueActionRead)
    @blp.alt_response(404, description="No such queue.")
    @blp.alt_response(422, description=CONFIRM_422)
    @blp.doc(security=BEARER)
    @admin_required
    def post(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        """Stop workers starting the queue's jobs; they stay queued, nothing is lost (audited)"""
        return _set_paused(name, body, True)


@blp.route("/queues/<string:name>/resume")
class QueueResume(MethodView):
    @blp.arguments(Confirmed)
    @blp.response(200, QueueActionRead)
    @blp.alt_response(404, description="No such queue.")
    @blp.alt_response(422, description=CONFIRM_422)
    @blp.doc(security=BEARER)
    @admin_required
    def post(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        """Let workers take the queue's jobs again (within about ten seconds; audited)"""
        return _set_paused(name, body, False)
