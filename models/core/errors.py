"""The domain's exceptions: one root, one class per thing that can go wrong.

The web layer maps these to HTTP responses; nothing in models/ knows about HTTP.
"""

from __future__ import annotations

from typing import Any


class BacklineError(Exception):
    """Base class for every error the domain raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(BacklineError):
    """The object does not exist, or the caller may not know that it does."""

    code = "not_found"


class Conflict(BacklineError):
    """The request contradicts the object's current state."""

    code = "conflict"


class InvalidInput(BacklineError):
    """The input is well-formed but not acceptable."""

    code = "validation_failed"


class TooLarge(BacklineError):
    """A body or a file past its size cap."""

    code = "payload_too_large"

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            f"larger than the {max_bytes:,}-byte limit", details={"max_bytes": max_bytes}
        )
        self.max_bytes = max_bytes


class AuthenticationFailed(BacklineError):
    """Credentials or a token were missing, wrong, expired or revoked."""

    code = "authentication_failed"


class PermissionDenied(BacklineError):
    """The caller is known but may not do this."""

    code = "permission_denied"


class EmailNotVerified(PermissionDenied):
    """The action needs a confirmed e-mail address."""

    code = "email_not_verified"


class WrongPassword(PermissionDenied):
    """The caller's current password, asked again before a sensitive change, is wrong."""

    code = "wrong_password"


class CsrfFailed(PermissionDenied):
    """A cookie-authenticated request lacks the session's CSRF token."""

    code = "csrf_failed"


class LimitReached(BacklineError):
    """A quota or throttle says no for now; `retry_after_s` says for how long."""

    code = "limit_reached"

    def __init__(
        self, message: str, *, retry_after_s: int, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = max(1, retry_after_s)


class LoginThrottled(LimitReached):
    """Too many wrong passwords for this address: no login attempt is judged for a while."""

    code = "login_throttled"
