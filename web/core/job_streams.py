"""/api/v1/jobs/<id>/stream and /api/v1/jobs/stream: jobs' changes as server-sent events.

A job's stream sends each event of its history as it happens (`id:` the event's id, `event:`
its type: queued, started, progress, retry_scheduled, succeeded, ...), then the job as
GET /api/v1/jobs/<id> shows it (`event: job`, no id) whenever it changed, progress included;
when the job has finished it says `event: end` and closes. Reconnecting with Last-Event-ID
sends what came after that event and nothing twice; a finished job whose every event the
client has answers 204, which tells EventSource to stop reconnecting.

The organisation's stream sends every event of every job in the caller's organisation, from
the moment it connects (or from its Last-Event-ID), with the job's kind and status. It never
ends. The events of different jobs may commit out of order; the stream's ids account for
that (models/core/jobs/feed.py), and after a reconnection an event already received may come
again: its `id` in the data says which.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from models.core import jobs as jobs_domain
from models.core.access import Viewer
from models.core.jobs import feed
from web.core.auth import BEARER, auth_required, current_org_id, current_viewer
from web.core.context import db
from web.core.job_schemas import JobRead
from web.core.streams import Batch, Message, last_event_id, stream
from workers.core.changes import job_channel, org_jobs_channel

blp = Blueprint(
    "job_streams", __name__, url_prefix="/api/v1", description="Jobs' changes, as they happen."
)
_JOB_READ = JobRead()
_EVENT_STREAM = {"text/event-stream": {"schema": {"type": "string"}}}


class JobFeed:
    """One job's history, then its state, until it has finished."""

    def __init__(self, job_id: uuid.UUID, viewer: Viewer) -> None:
        self.job_id, self.viewer = job_id, viewer
        self.channel = job_channel(job_id)
        self._etag: str | None = None

    def read(self, cursor: int) -> Batch[int]:
        # The job first: once it reads finished, every event it wrote is there to read next.
        job = jobs_domain.read_job(session=db(), job_id=self.job_id, viewer=self.viewer)
        events = feed.job_events(session=db(), job_id=self.job_id, after_id=cursor)
        messages = [Message(e.as_json(), event=e.type, id=str(e.id)) for e in events]
        if job.etag != self._etag:
            self._etag = job.etag
            messages.append(Message(_JOB_READ.dump(job), event="job"))
        cursor = events[-1].id if events else cursor
        done = job.status.finished and len(events) < feed.PAGE
        if done:
            messages.append(Message({"job_id": str(self.job_id)}, event="end"))
        return Batch(messages, cursor, done)

    def resume_id(self, cursor: int) -> str | None:
        return None  # its events carry their ids; without one, a stream starts from the first


class OrgJobsFeed:
    """Every event of the organisation's jobs, from a cursor on."""

    def __init__(self, org_id: uuid.UUID) -> None:
        self.org_id = org_id
        self.channel = org_jobs_channel(org_id)

    def read(self, cursor: feed.Cursor) -> Batch[feed.Cursor]:
        events, after = feed.org_events(session=db(), org_id=self.org_id, cursor=cursor)
        # Each id resumes after its own event (models/core/jobs/feed.py says why this holds).
        messages = [
            Message(
                e.as_json(), event=e.type, id=str(feed.Cursor(e.id, None, after.oldest_running))
            )
            for e in events
        ]
        return Batch(messages, after)

    def resume_id(self, cursor: feed.Cursor) -> str | None:
        return str(feed.Cursor(cursor.after_id, None, cursor.oldest_running))


_STREAM_DOC: dict[str, Any] = {
    "security": BEARER,
    "parameters": [
        {
            "in": "header",
            "name": "Last-Event-ID",
            "schema": {"type": "string", "maxLength": 50},
            "description": "Resume after this event (EventSource sends it on reconnecting).",
        },
        {
            "in": "query",
            "name": "last_event_id",
            "schema": {"type": "string", "maxLength": 50},
            "description": "The same, for a first request that cannot set headers.",
        },
    ],
    "responses": {
        "200": {"description": "text/event-stream", "content": _EVENT_STREAM},
    },
}


@blp.route("/jobs/<uuid:job_id>/stream")
class JobStream(MethodView):
    @blp.alt_response(204, description="The job has finished and you have all its events.")
    @blp.doc(**_STREAM_DOC)
    @auth_required
    def get(self, job_id: uuid.UUID) -> Response:
        """Follow a job: its events and state as they change, until it finishes (SSE)"""
        viewer = current_viewer()
        job_feed = JobFeed(job_id, viewer)
        resume = last_event_id()
        after = feed.Cursor.parse(resume).after_id if resume else 0
        if resume:
            job = jobs_domain.read_job(session=db(), job_id=job_id, viewer=viewer)
            if job.status.finished and not feed.job_events(
                session=db(), job_id=job_id, after_id=after, limit=1
            ):
                return Response(status=204)
        else:
            jobs_domain.read_job(session=db(), job_id=job_id, viewer=viewer)  # 404 first
        return stream(job_feed, after, viewer.user_id)


@blp.route("/jobs/stream")
class OrgJobStream(MethodView):
    @blp.doc(**_STREAM_DOC)
    @auth_required
    def get(self) -> Response:
        """Follow every job of your organization: each event as it happens (SSE)"""
        org_id = current_org_id()
        resume = last_event_id()
        if resume:
            cursor = feed.Cursor.parse(resume)
        else:
            cursor = feed.org_cursor_now(session=db(), org_id=org_id)
        return stream(OrgJobsFeed(org_id), cursor, current_viewer().user_id)
