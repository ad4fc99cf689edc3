"""email.send against a real SMTP server: delivery, refusals, greylisting, no double sends."""

from __future__ import annotations

import uuid

from models.core.jobs import JobStatus
from tests.smtp import SmtpServer
from tests.worker.conftest import events, submit_job, wait_for
from workers.core.setup import Platform
from workers.core.tracking import Runtime


def mail(to: str, **extra: str) -> dict[str, object]:
    return {"to": [to], "subject": "Your report is ready", "text": "Plain body", **extra}


def test_a_mail_is_delivered_with_its_parts_and_a_message_id_from_the_job(
    committed_platform: Platform, worker: Runtime, owner: uuid.UUID, smtp: SmtpServer
) -> None:
    to = f"{uuid.uuid4().hex[:8]}@example.com"
    job_id = submit_job(
        committed_platform,
        owner,
        "email.send",
        mail(to, html="<p>HTML body</p>", reply_to="help@example.com"),
    )

    job = wait_for(committed_platform, job_id)

    assert job.status == JobStatus.SUCCEEDED
    [message] = smtp.to(to)
    assert message["Subject"] == "Your report is ready"
    assert message["Reply-To"] == "help@example.com"
    assert message["Message-ID"] == f"<{job_id}@backline.local>"
    bodies = {
        part.get_content_type(): part.get_payload(decode=True).decode().strip()
        for part in message.walk()
        if not part.is_multipart()
    }
    assert bodies == {"text/plain": "Plain body", "text/html": "<p>HTML body</p>"}
    assert job.result == {"message_id": f"<{job_id}@backline.local>", "refused": []}


def test_a_refused_recipient_fails_the_job_at_once(
    committed_platform: Platform, worker: Runtime, owner: uuid.UUID
) -> None:
    job_id = submit_job(committed_platform, owner, "email.send", mail("nobody@bounce.test"))

    job = wait_for(committed_platform, job_id)

    assert job.status == JobStatus.FAILED
    assert job.attempts == 1
    assert job.error is not None
    assert job.error["type"] == "SMTPRecipientsRefused"
    assert "550" in job.error["message"]


def test_a_greylisted_mail_is_retried_and_delivered_once(
    committed_platform: Platform, worker: Runtime, owner: uuid.UUID, smtp: SmtpServer
) -> None:
    to = f"{uuid.uuid4().hex[:8]}@greylist.test"
    job_id = submit_job(committed_platform, owner, "email.send", mail(to))

    job = wait_for(committed_platform, job_id, timeout_s=20)

    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 2
    assert len(smtp.to(to)) == 1
    assert [e.type for e in events(committed_platform, job_id)].count("retry_scheduled") == 1
