"""Diagnostic job kinds for smoke tests and benchmarks (platform admins only).

`system.noop` does nothing and measures the platform's own cost per job; `system.sleep` waits,
reporting progress every second and honouring cancellation, to exercise long jobs.
"""

from __future__ import annotations

import math
from typing import Any

from marshmallow import Schema, fields, validate

from workers.core.context import JobContext
from workers.core.registry import job_kind

MAX_SLEEP_S = 3600


class NoopParams(Schema):
    pass


class SleepParams(Schema):
    seconds = fields.Float(
        required=True,
        validate=validate.Range(min=0, max=MAX_SLEEP_S),
        metadata={"description": f"How long to sleep, at most {MAX_SLEEP_S} s."},
    )


@job_kind(
    "system.noop",
    params=NoopParams,
    queue="system",
    admin_only=True,
    counts_toward_quota=False,
    max_attempts=3,
    time_limit_ms=10_000,
)
def noop(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Do nothing (measures the platform's overhead per job)."""
    return {}


@job_kind(
    "system.sleep",
    params=SleepParams,
    queue="system",
    admin_only=True,
    counts_toward_quota=False,
    max_attempts=3,
    time_limit_ms=(MAX_SLEEP_S + 60) * 1000,
)
def sleep(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Sleep for `seconds`, reporting progress every second; stops when cancelled."""
    seconds = float(params["seconds"])
    steps = max(1, math.ceil(seconds))
    start = (ctx.checkpoint or {}).get("step", 0)
    for step in range(start, steps):
        ctx.progress(step, steps, f"slept {step} of {steps} s")
        ctx.sleep(seconds / steps)
        ctx.save_checkpoint({"step": step + 1})
    ctx.progress(steps, steps, "done")
    return {"slept_s": seconds, "resumed_at_step": start}
