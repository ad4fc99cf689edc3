"""A product domain plugs in without touching the platform: its own files, one line per list.

The test writes a throwaway domain into a tree shaped like the project's (workers/ and web/
beside each other, in a temporary folder that joins the packages' search path), adds its name
to workers.DOMAINS and web.DOMAINS, and nothing else: its job kind is submitted through the
API and its periodic job is scheduled, and a worker runs both.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import web
import workers
from models.core.jobs import Job, JobStatus
from tests.conftest import access_token, make_user
from tests.worker.conftest import RunningWorker, wait_for
from workers.core import periodic, registry
from workers.core.periodic import enqueue_due
from workers.core.setup import Platform

WORKERS_MODULE = '''
"""A throwaway domain's job kinds."""

from marshmallow import Schema, fields

from workers.core.periodic import periodic
from workers.core.registry import job_kind


class EchoParams(Schema):
    text = fields.String(required=True)


@job_kind("throwaway.echo", params=EchoParams, queue="throwaway")
def echo(ctx, params):
    """Say it back."""
    return {"echo": params["text"]}


@periodic("throwaway.tick", every_s=60, queue="throwaway")
def tick(ctx, params):
    """Note the slot."""
    return {"slot": params["slot"].isoformat()}
'''

WEB_MODULE = '''
"""A throwaway domain's API."""

from flask.views import MethodView
from flask_smorest import Blueprint

blp = Blueprint("throwaway", __name__, url_prefix="/api/v1/throwaway")


@blp.route("/ping")
class Ping(MethodView):
    @blp.response(200)
    def get(self):
        """Answer pong"""
        return {"pong": True}


blueprints = [blp]
'''


@pytest.fixture()
def throwaway_domain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Its kinds and schedule land in copies of the registries, put back after the test.
    monkeypatch.setattr(registry, "_KINDS", registry.load_kinds())
    monkeypatch.setattr(periodic, "_SCHEDULES", periodic.load_schedules())
    for layer, source in (("workers", WORKERS_MODULE), ("web", WEB_MODULE)):
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "throwaway.py").write_text(textwrap.dedent(source))
    monkeypatch.setattr(workers, "__path__", [*workers.__path__, str(tmp_path / "workers")])
    monkeypatch.setattr(web, "__path__", [*web.__path__, str(tmp_path / "web")])
    # The one line per domain list.
    monkeypatch.setattr(workers, "DOMAINS", (*workers.DOMAINS, "workers.throwaway"))
    monkeypatch.setattr(web, "DOMAINS", (*web.DOMAINS, "web.throwaway"))
    yield
    for module in ("workers.throwaway", "web.throwaway"):
        sys.modules.pop(module, None)


def test_a_domain_made_of_its_own_files_and_one_line_per_list_runs_its_kind_and_its_schedule(
    throwaway_domain: None,
    committed_platform: Platform,
    start_worker: Callable[[], RunningWorker],
) -> None:
    p = committed_platform
    start_worker()  # its actors come from the registry, the throwaway's included
    app = web.create_app(platform=p)
    client = app.test_client()
    with p.sessions() as session:
        user = make_user(session)
        session.commit()
        headers = {"Authorization": f"Bearer {access_token(p, session, user)}"}

    ping = client.get("/api/v1/throwaway/ping")
    submitted = client.post(
        "/api/v1/jobs", json={"kind": "throwaway.echo", "params": {"text": "hi"}}, headers=headers
    )
    now = datetime.now(UTC)
    enqueue_due(sessions=p.sessions, dispatcher=p.dispatcher, now=now - timedelta(minutes=1))
    enqueue_due(sessions=p.sessions, dispatcher=p.dispatcher, now=now)
    with p.sessions() as session:
        tick_id = session.scalars(select(Job.id).where(Job.kind == "throwaway.tick")).one()

    assert ping.status_code == 200 and ping.json == {"pong": True}
    assert submitted.status_code == 202, submitted.json
    echo = wait_for(p, submitted.json["id"])
    tick = wait_for(p, tick_id)
    assert (echo.status, echo.result) == (JobStatus.SUCCEEDED, {"echo": "hi"})
    slot = periodic.load_schedules()["throwaway.tick"].latest_slot(now)
    assert (tick.status, tick.result) == (JobStatus.SUCCEEDED, {"slot": slot.isoformat()})
