"""The webhooks.process job on a real worker: the handler runs once, failures are recorded."""

from __future__ import annotations

import json
import time
import uuid

from sqlalchemy.orm import Session

from config import Settings
from models.core import webhooks as events
from models.core.jobs import JobStatus
from models.core.webhooks import NewEvent, WebhookEvent, WebhookStatus
from tests.worker.conftest import wait_for
from workers.core.setup import Platform
from workers.core.tracking import Runtime
from workers.core.webhooks import (
    ReceivedEvent,
    process_event,
    submit_processing,
    webhook_handler,
)

SEEN: list[str] = []


@webhook_handler("test-worker", "ok")
def _ok(session: Session, event: ReceivedEvent, settings: Settings) -> None:
    SEEN.append(event.message_id)


@webhook_handler("test-worker", "broken")
def _broken(session: Session, event: ReceivedEvent, settings: Settings) -> None:
    raise RuntimeError("the handler could not cope")


@webhook_handler("test-worker", "shared")
def _first(session: Session, event: ReceivedEvent, settings: Settings) -> None:
    SEEN.append("first")


@webhook_handler("test-worker", "shared")
def _second(session: Session, event: ReceivedEvent, settings: Settings) -> None:
    SEEN.append("second")


def receive(platform: Platform, event_type: str) -> tuple[uuid.UUID, uuid.UUID]:
    with platform.sessions.begin() as session:
        msg_id = f"msg_{uuid.uuid4().hex}"
        body = json.dumps({"type": event_type}).encode()
        event_id = uuid.uuid4()
        job_id = submit_processing(
            session=session, dispatcher=platform.dispatcher, event_id=event_id
        )
        stored = events.store_event(
            session=session,
            new=NewEvent("test-worker", msg_id, event_type, body),
            event_id=event_id,
            job_id=job_id,
        )
        assert stored == event_id
    return event_id, job_id


def test_the_job_runs_the_handler_and_marks_the_event_processed(
    committed_platform: Platform, worker: Runtime
) -> None:
    SEEN.clear()
    event_id, job_id = receive(committed_platform, "ok")
    job = wait_for(committed_platform, job_id)
    assert job.status == JobStatus.SUCCEEDED
    assert job.result == {"event_id": str(event_id), "status": "processed"}
    with committed_platform.sessions() as session:
        event = session.get_one(WebhookEvent, event_id)
        assert (event.status, len(SEEN)) == (WebhookStatus.PROCESSED, 1)


def test_a_failing_handler_leaves_the_event_to_retry_with_its_error(
    committed_platform: Platform, worker: Runtime
) -> None:
    event_id, job_id = receive(committed_platform, "broken")
    with committed_platform.sessions() as session:
        for _ in range(500):
            event = session.get_one(WebhookEvent, event_id)
            if event.attempts:
                break
            session.expire_all()
            time.sleep(0.02)
        assert event.status == WebhookStatus.RECEIVED
        assert event.error == "RuntimeError: the handler could not cope"


def test_every_handler_of_a_shared_event_type_runs_once(session: Session) -> None:
    SEEN.clear()
    new = NewEvent("test-worker", f"msg_{uuid.uuid4().hex}", "shared", b"{}")
    event_id = events.store_event(session=session, new=new)
    assert event_id is not None
    settings = Settings()
    assert process_event(session=session, event_id=event_id, settings=settings) == (
        WebhookStatus.PROCESSED
    )
    process_event(session=session, event_id=event_id, settings=settings)  # delivered again
    assert SEEN == ["first", "second"]
