"""`python -m workers.core.scheduler`: the periodic process.

Every second it submits the periodic jobs whose slot has come (workers/core/periodic.py) and
asks the broker whether it lost its messages (then sends the queued jobs again at once);
every SWEEP_INTERVAL_S it runs the recovery sweep (workers/core/recovery.py). Several
schedulers may run (one per machine, say): a slot is claimed in the database, so it runs
once, and the sweep's advisory lock lets one sweep at a time. SIGTERM and Ctrl-C stop it
between two rounds.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from config import Settings, load_settings
from config.logging import configure_logging
from workers.core.periodic import Backoff, enqueue_due
from workers.core.recovery import resend_after_broker_loss, sweep
from workers.core.setup import Platform, connect

log = logging.getLogger("backline.scheduler")
PERIODIC_TICK_S = 1.0


def submit_periodic(platform: Platform, backoff: Backoff) -> None:
    """Submit the periodic jobs that are due (errors are logged; a later tick tries again)."""
    try:
        enqueue_due(sessions=platform.sessions, dispatcher=platform.dispatcher, backoff=backoff)
    except Exception:
        log.warning("periodic jobs not submitted; trying again next tick", exc_info=True)


class BrokerWatch:
    """Asks the broker every tick whether it lost its messages (a flush, a restart without
    its data), so the queued jobs are sent again within a second, not a sweep later."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.failing = False

    def check(self) -> None:
        try:
            resend_after_broker_loss(self.platform)
        except Exception:
            if not self.failing:  # once per outage, not every second
                log.warning("could not ask the broker whether it lost its messages", exc_info=True)
            self.failing = True
        else:
            self.failing = False


def run(settings: Settings, stop: threading.Event) -> None:
    platform = connect(settings, pool_size=2)
    log.info("scheduler started", extra={"sweep_interval_s": settings.sweep_interval_s})
    # Running jobs are only taken back once the database has answered for a whole stale
    # period: while it was away, the workers' heartbeats could not land either.
    reachable_since = time.monotonic()
    next_sweep = time.monotonic()
    backoff = Backoff()
    watch = BrokerWatch(platform)
    while not stop.is_set():
        submit_periodic(platform, backoff)
        watch.check()
        if time.monotonic() >= next_sweep:
            settled = time.monotonic() - reachable_since >= settings.heartbeat_stale_s
            try:
                sweep(platform, recover_running=settled)
            except Exception:
                log.exception("recovery sweep failed; trying again next interval")
                reachable_since = time.monotonic()
            next_sweep = time.monotonic() + settings.sweep_interval_s
        stop.wait(max(0.0, min(PERIODIC_TICK_S, next_sweep - time.monotonic())))
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
