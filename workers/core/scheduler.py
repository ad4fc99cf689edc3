"""`python -m workers.core.scheduler`: the periodic process (recovery sweep every few seconds).

Several schedulers may run (one per machine, say): the sweep's advisory lock lets one act at a
time. SIGTERM and Ctrl-C stop it between two sweeps.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from config import Settings, load_settings
from config.logging import configure_logging
from models.accounts.logins import prune_attempts
from models.core.base import utcnow
from workers.core.recovery import sweep
from workers.core.setup import Platform, connect

log = logging.getLogger("backline.scheduler")
HOUSEKEEPING_INTERVAL_S = 3600


def housekeeping(platform: Platform) -> int:
    """Drop what is kept only for a while: login attempts past their retention."""
    removed = 0
    while True:
        with platform.sessions.begin() as session:
            batch = prune_attempts(
                session=session,
                keep_days=platform.settings.login_audit_retention_days,
                now=utcnow(),
            )
        removed += batch
        if batch == 0:
            return removed


def run(settings: Settings, stop: threading.Event) -> None:
    platform = connect(settings, pool_size=2)
    log.info("scheduler started", extra={"sweep_interval_s": settings.sweep_interval_s})
    # Running jobs are only taken back once the database has answered for a whole stale
    # period: while it was away, the workers' heartbeats could not land either.
    reachable_since = time.monotonic()
    next_housekeeping = time.monotonic()
    while not stop.is_set():
        if time.monotonic() >= next_housekeeping:
            next_housekeeping = time.monotonic() + HOUSEKEEPING_INTERVAL_S
            try:
                removed = housekeeping(platform)
                if removed:
                    log.info("old login attempts removed", extra={"removed": removed})
            except Exception:
                log.exception("housekeeping failed; trying again in an hour")
        settled = time.monotonic() - reachable_since >= settings.heartbeat_stale_s
        try:
            sweep(platform, recover_running=settled)
        except Exception:
            log.exception("recovery sweep failed; trying again next interval")
            reachable_since = time.monotonic()
        stop.wait(settings.sweep_interval_s)
    platform.engine.dispose()
    log.info("scheduler stopped")


def main() -> None:
    settings = load_settings()
    configure_logging(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run(settings, stop)


if __name__ == "__main__":
    main()
