"""The state changes a job goes through while a worker holds it.

The batched statements find and lock their rows one by one through the primary key (a
LATERAL subquery, which re-checks its conditions on the newest row version if it had to wait
for a lock), then update them by id. Joined as a set with the status condition instead, the
planner would trust the queued-jobs partial index, whose statistics lag behind a burst of
submissions, and scan every queued job for a handful of claims.

Each change is one statement that updates the job row and appends its event together (a
data-modifying CTE), so a worker needs one round trip per change. Every change after the claim
is fenced by the lease the claim handed out: if the recovery sweep gave the job to another
worker (its heartbeat went stale), the first worker's late writes match no row and are dropped.

claimed: what a worker holds; batch: claims and successes, batched; outcomes: failure,
cancellation, retries, interruptions; running: progress, heartbeats, checkpoints, effects.
"""

from models.core.job_runs.batch import BATCH_SQL, Batch, apply_batch, batch, claim, succeed
from models.core.job_runs.claimed import ClaimedJob, Hold
from models.core.job_runs.outcomes import (
    cancel,
    fail,
    interruptions,
    requeue_interrupted,
    schedule_retry,
)
from models.core.job_runs.running import (
    cancel_requested,
    effect_result,
    heartbeat,
    mark_not_enqueued,
    record_effect,
    record_progress,
    redact_params,
    save_checkpoint,
)

__all__ = [
    "BATCH_SQL",
    "Batch",
    "ClaimedJob",
    "Hold",
    "apply_batch",
    "batch",
    "cancel",
    "cancel_requested",
    "claim",
    "effect_result",
    "fail",
    "heartbeat",
    "interruptions",
    "mark_not_enqueued",
    "record_effect",
    "record_progress",
    "redact_params",
    "requeue_interrupted",
    "save_checkpoint",
    "schedule_retry",
    "succeed",
]
