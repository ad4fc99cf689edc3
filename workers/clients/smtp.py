"""SMTP: hand a message to the configured server (SMTP_HOST, STARTTLS and login if set).

Errors are smtplib's own, which workers/core/errors.py classifies: 4xx replies and lost
connections are transient (retried), 5xx replies permanent.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

from config import Settings


def deliver(settings: Settings, message: EmailMessage) -> dict[str, Any]:
    """Send `message`; its Message-ID and the refused recipients, if some were."""
    with smtplib.SMTP(
        settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s
    ) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        refused = smtp.send_message(message)
    return {"message_id": message["Message-ID"], "refused": sorted(refused)}
