"""The job kinds Backline runs, each declared once with its limits.

A kind names its params schema (marshmallow; the API validates submissions with it), its
queue, how many attempts it gets, its time limit and backoff, and its handler. The API and the
workers read the same registry, so a kind cannot be submitted that no worker knows how to run.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from marshmallow import Schema

import workers
from models.core.access import Viewer
from models.core.errors import EmailNotVerified, InvalidInput

if TYPE_CHECKING:
    from workers.core.context import JobContext

Handler = Callable[["JobContext", dict[str, Any]], Any]

# The platform's own kinds; the domains' come from workers.DOMAINS. Importing a module fills
# the registry.
PLATFORM_KINDS = ("workers.core.system", "workers.core.webhooks")


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Handler
    params_schema: type[Schema]
    description: str
    queue: str = "default"
    max_attempts: int = 5
    time_limit_ms: int = 10 * 60 * 1000
    min_backoff_ms: int = 1000
    max_backoff_ms: int = 5 * 60 * 1000
    # Only platform admins may submit it (diagnostics, benchmarks).
    admin_only: bool = False
    # Counts against the organisation's jobs-per-day quota (diagnostics do not).
    counts_toward_quota: bool = True
    # Sends mail or spends external API quota: refused until the submitter's e-mail address
    # is verified, so an unconfirmed sign-up cannot spend anyone's money or reputation.
    requires_verified_email: bool = False

    @functools.cached_property
    def schema(self) -> Schema:
        """One instance of the params schema, shared: loading and dumping keep no state."""
        return self.params_schema()


_KINDS: dict[str, JobKind] = {}


def job_kind(name: str, *, params: type[Schema], **limits: Any) -> Callable[[Handler], Handler]:
    """Declare the decorated function as the handler of job kind `name`."""

    def register(handler: Handler) -> Handler:
        if name in _KINDS:
            raise ValueError(f"job kind {name!r} is declared twice")
        description = (handler.__doc__ or name).strip().splitlines()[0]
        _KINDS[name] = JobKind(
            name=name, handler=handler, params_schema=params, description=description, **limits
        )
        return handler

    return register


def load_kinds() -> dict[str, JobKind]:
    """Every declared kind (imports the platform's and the domains' modules on first use)."""
    for module in (*PLATFORM_KINDS, *workers.DOMAINS):
        importlib.import_module(module)
    return dict(_KINDS)


def get_kind(name: str) -> JobKind | None:
    load_kinds()
    return _KINDS.get(name)


def queues() -> set[str]:
    return {kind.queue for kind in load_kinds().values()}


def may_see(kind: JobKind, viewer: Viewer) -> bool:
    """Whether `viewer` is shown `kind` at all: admin-only kinds are for platform admins."""
    return viewer.is_admin or not kind.admin_only


def kind_for(name: str, viewer: Viewer) -> JobKind:
    """The kind named `name`, if `viewer` may submit it.

    A kind the viewer may not see is as unknown as one that does not exist (InvalidInput);
    one that needs a confirmed e-mail address raises EmailNotVerified until it is confirmed.
    """
    kind = load_kinds().get(name)
    if kind is None or not may_see(kind, viewer):
        raise InvalidInput(
            "unknown job kind", details={"fields": {"kind": [f"no job kind named {name!r}"]}}
        )
    if kind.requires_verified_email and not viewer.email_verified:
        raise EmailNotVerified(
            f"confirm your e-mail address before starting {name} jobs "
            "(POST /api/v1/auth/resend-verification sends a new link)",
            details={"kind": name},
        )
    return kind
