"""`python -m workers`: start Dramatiq worker processes for every Backline queue.

Settings come from the environment (config/); the idle poll interval is handed to Dramatiq
through the variable its worker reads, since its CLI has no flag for it. With
PROMETHEUS_MULTIPROC_DIR set and WORKER_METRICS_PORT above 0, Dramatiq's main process also
forks the metrics server (workers/core/metrics.py), which sums every worker process's figures.
"""

from __future__ import annotations

import os
import sys

from config import load_settings
from workers.core.metrics import clear_multiproc_dir
from workers.core.registry import queues


def main(argv: list[str]) -> None:
    settings = load_settings()
    env = dict(os.environ, dramatiq_worker_timeout=str(settings.worker_idle_poll_ms))
    args = [
        sys.executable,
        "-m",
        "dramatiq",
        "workers.core.app",
        "--processes",
        str(settings.worker_processes),
        "--threads",
        str(settings.worker_threads),
        "--queues",
        *sorted(queues()),
        "--skip-logging",
    ]
    if settings.prometheus_multiproc_dir and settings.worker_metrics_port:
        clear_multiproc_dir(settings)
        args += ["--fork-function", "workers.core.metrics:serve"]
    args += argv
    os.execve(sys.executable, args, env)  # noqa: S606 - our own interpreter, fixed arguments


if __name__ == "__main__":
    main(sys.argv[1:])
