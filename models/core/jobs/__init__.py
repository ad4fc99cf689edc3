"""Jobs and their history: the tables, and what clients may do with them.

The job row is the truth about a job; the broker only carries its id. Every change of state
writes an event in the same transaction, so the history a client reads is never out of step
with the status it sees. The state changes made while a job runs live in
models/core/job_runs/.

tables: the rows, states and snapshot; submit: storing new jobs; reads: what clients read;
actions: cancel and re-drive. The names below are the package's whole public face.
"""

from models.core.jobs.actions import redrive, request_cancel
from models.core.jobs.reads import JobFilter, get_job, list_events, list_jobs, read_job
from models.core.jobs.submit import NewJob, create_job, create_jobs
from models.core.jobs.tables import (
    JOB_STATUS,
    SNAPSHOT_COLUMNS,
    EventType,
    Job,
    JobEffect,
    JobEvent,
    JobFacts,
    JobSnapshot,
    JobStatus,
    add_event,
)

__all__ = [
    "JOB_STATUS",
    "SNAPSHOT_COLUMNS",
    "EventType",
    "Job",
    "JobEffect",
    "JobEvent",
    "JobFacts",
    "JobFilter",
    "JobSnapshot",
    "JobStatus",
    "NewJob",
    "add_event",
    "create_job",
    "create_jobs",
    "get_job",
    "list_events",
    "list_jobs",
    "read_job",
    "redrive",
    "request_cancel",
]
