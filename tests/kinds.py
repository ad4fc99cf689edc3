"""Job kinds that exist only in the tests, to drive the job core through its cases.

They record what happened in module-level dicts: the worker threads run in the test process.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

from marshmallow import Schema, fields

from models.core.fields import BigInt, Text
from workers.core.context import JobContext
from workers.core.errors import PermanentError, TransientError
from workers.core.registry import job_kind

CALLS: defaultdict[str, list[int]] = defaultdict(list)
SIDE_EFFECTS: list[str] = []
PAGES: defaultdict[str, list[int]] = defaultdict(list)
STARTED: dict[str, threading.Event] = defaultdict(threading.Event)
_lock = threading.Lock()
FAST = {"queue": "test", "min_backoff_ms": 100, "max_backoff_ms": 400}


class FlakyParams(Schema):
    fail_times = BigInt(load_default=0)
    permanent = fields.Boolean(load_default=False)
    retry_after_s = fields.Float(load_default=None, allow_none=True)


@job_kind("test.flaky", params=FlakyParams, max_attempts=3, **FAST)
def flaky(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Fail the first `fail_times` runs (over the job's whole life), then succeed."""
    with _lock:
        CALLS[ctx.job_id].append(ctx.attempt)
        runs = len(CALLS[ctx.job_id])
    if runs <= params["fail_times"]:
        if params["permanent"]:
            raise PermanentError("the input cannot be processed")
        raise TransientError("upstream answered 503", retry_after_s=params["retry_after_s"])
    return {"runs": runs}


@job_kind("test.bug", params=Schema, max_attempts=2, **FAST)
def bug(ctx: JobContext, params: dict[str, Any]) -> None:
    """Fail with an exception nobody classified (a bug)."""
    CALLS[ctx.job_id].append(ctx.attempt)
    raise KeyError("missing")


@job_kind("test.effects", params=Schema, max_attempts=3, **FAST)
def effects(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Do an effect, then fail once after it; the retry must not repeat it."""
    count = ctx.effect("side", lambda: SIDE_EFFECTS.append(ctx.job_id) or len(SIDE_EFFECTS))
    if ctx.attempt == 1:
        raise TransientError("failed after the effect")
    return {"effect_result": count}


class PagesParams(Schema):
    pages = BigInt(required=True)
    fail_at = BigInt(required=True)


@job_kind("test.pages", params=PagesParams, max_attempts=3, **FAST)
def pages(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Walk pages with a checkpoint after each; the first attempt fails at `fail_at`."""
    start = (ctx.checkpoint or {}).get("page", 0)
    for page in range(start, params["pages"]):
        PAGES[ctx.job_id].append(page)
        if page == params["fail_at"] and ctx.attempt == 1:
            raise TransientError("rate limited")
        ctx.save_checkpoint({"page": page + 1})
        ctx.progress(page + 1, params["pages"])
    return {"pages": params["pages"]}


class WaitParams(Schema):
    seconds = fields.Float(load_default=30)


@job_kind("test.wait", params=WaitParams, max_attempts=1, **FAST)
def wait(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Signal that it started, then wait (cancellable)."""
    STARTED[ctx.job_id].set()
    ctx.progress(0, 1, "waiting")
    ctx.sleep(params["seconds"])
    return {"waited": params["seconds"]}


@job_kind("test.deaf", params=Schema, max_attempts=3, **FAST)
def deaf(ctx: JobContext, params: dict[str, Any]) -> None:
    """Never checks for cancellation: waits a moment, then fails with a transient error."""
    STARTED[ctx.job_id].set()
    time.sleep(0.8)
    raise TransientError("upstream timed out")


@job_kind("test.nan", params=Schema, max_attempts=3, **FAST)
def nan(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Return a result PostgreSQL's jsonb cannot hold."""
    return {"ratio": float("nan")}


@job_kind("test.mailer", params=Schema, max_attempts=1, requires_verified_email=True, **FAST)
def mailer(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Stands for a kind that sends mail or spends API quota: verified submitters only."""
    return {"sent": 0}


class OnceParams(Schema):
    note = Text(load_default="")


@job_kind("test.once", params=OnceParams, max_attempts=1, **FAST)
def once(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Fail for good on the job's first run (quoting `note`); succeed when it is run again."""
    with _lock:
        CALLS[ctx.job_id].append(ctx.attempt)
        runs = len(CALLS[ctx.job_id])
    if runs == 1:
        raise PermanentError(f"cannot process {params['note']}")
    return {"runs": runs, "note": params["note"]}
