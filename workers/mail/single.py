"""`email.send`: one transactional mail over SMTP
(workers/clients/smtp.py).

The message carries a Message-ID made from the job id, and the send is recorded in the job's
effect ledger, so a retried job does not mail the same person twice. SMTP 4xx replies and lost
connections are retried; 5xx replies (unknown recipient, refused) fail the job at once.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from marshmallow import Schema, fields, validate

from config import Settings
from models.core.fields import Email, Text
from workers.clients.smtp import deliver
from workers.core.context import JobContext
from workers.core.registry import job_kind

MAX_RECIPIENTS = 50
MAX_BODY_CHARS = 200_000


REDACTED = "[sent; the body carried a secret and is no longer kept]"


class EmailParams(Schema):
    to = fields.List(Email(), required=True, validate=validate.Length(min=1, max=MAX_RECIPIENTS))
    subject = Text(
        required=True,
        validate=[
            validate.Length(min=1, max=500),
            validate.Regexp(r"^[^\r\n]*$", error="must be a single line"),
        ],
    )
    text = Text(required=True, validate=validate.Length(min=1, max=MAX_BODY_CHARS))
    html = Text(validate=validate.Length(max=MAX_BODY_CHARS))
    reply_to = Email()
    # The body carries a secret (a token the account flows mail): once the mail is out, the
    # stored params keep only a note, so neither the database nor an operator can reuse it.
    redact_after_send = fields.Boolean(load_default=False)
    # The recipient is leaving for good (account deletion): once sent, the address goes too.
    forget_recipient = fields.Boolean(load_default=False)


def build_message(settings: Settings, params: dict[str, Any], job_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = ", ".join(params["to"])
    message["Subject"] = params["subject"]
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<{job_id}@backline.local>"
    if params.get("reply_to"):
        message["Reply-To"] = params["reply_to"]
    message.set_content(params["text"])
    if params.get("html"):
        message.add_alternative(params["html"], subtype="html")
    return message


@job_kind(
    "email.send",
    params=EmailParams,
    queue="email",
    # Not for clients: the platform sends account mail with it; mail that users send goes
    # through domain kinds (campaigns, sequences) with their own rules.
    admin_only=True,
    requires_verified_email=True,
    max_attempts=8,
    time_limit_ms=60_000,
    min_backoff_ms=2000,
    max_backoff_ms=10 * 60 * 1000,
)
def send_email(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Send one e-mail over SMTP."""
    message = build_message(ctx.settings, params, ctx.job_id)
    ctx.progress(0, 1, "sending")
    sent = ctx.effect("smtp.send", lambda: deliver(ctx.settings, message))
    if params.get("redact_after_send"):
        note = REDACTED
        ctx.redact_params({"text": note, **({"html": note} if "html" in params else {})})
    if params.get("forget_recipient"):
        ctx.redact_params({"to": "[erased]"})
    return sent
