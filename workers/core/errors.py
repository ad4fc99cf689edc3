"""What job code raises to say how a failure should be handled, and how others are classed.

Transient failures (timeouts, lost connections, 429, 5xx, SMTP 4xx) are retried with
exponential backoff and jitter, waiting at least as long as a Retry-After asked. Permanent ones
(bad input, other 4xx, SMTP 5xx) fail the job at once. An exception nobody classed is treated
as transient: a bug then costs a few retries, while a blip never costs a job.
"""

from __future__ import annotations

import smtplib
import socket
from dataclasses import dataclass

from sqlalchemy.exc import OperationalError


class JobError(Exception):
    """Base class of the errors job code raises on purpose."""


class TransientError(JobError):
    """Worth trying again later; `retry_after_s` is the least wait the other side asked for."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentError(JobError):
    """Trying again cannot help (bad input, refused by the other side)."""


class JobCancelled(JobError):
    """The job was cancelled while it ran; raised by the context's cancellation checks."""


class JobInterrupted(JobError):
    """The worker is shutting down and the job's grace is over; raised by the context's checks
    so that the job is queued again from its last checkpoint, its attempt not counted."""


class LeaseLost(JobError):
    """Another worker holds this job now (the sweep gave it away); stop without writing."""


@dataclass(frozen=True)
class Verdict:
    transient: bool
    retry_after_s: float | None = None


def classify(exc: BaseException) -> Verdict:
    """Decide whether a failure is worth a retry."""
    if isinstance(exc, TransientError):
        return Verdict(True, exc.retry_after_s)
    if isinstance(exc, PermanentError):
        return Verdict(False)
    if isinstance(exc, smtplib.SMTPResponseException):
        return Verdict(400 <= exc.smtp_code < 500)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return Verdict(all(400 <= code < 500 for code in codes))
    if isinstance(
        exc,
        (
            smtplib.SMTPServerDisconnected,
            socket.timeout,
            ConnectionError,
            OperationalError,
            TimeoutError,
            OSError,
        ),
    ):
        return Verdict(True)
    return Verdict(True)


def _clean(text: str) -> str:
    """Text PostgreSQL can store (no NUL characters)."""
    return text.replace("\x00", "\\x00")


def describe(exc: BaseException, verdict: Verdict, traceback_text: str | None = None) -> dict:
    """The error document stored on the job (type + message, and what we made of it)."""
    error: dict = {
        "type": type(exc).__name__,
        "message": _clean(str(exc))[:2000] or type(exc).__name__,
        "transient": verdict.transient,
    }
    if traceback_text:
        error["traceback"] = _clean(traceback_text)[-8000:]
    return error
