"""The module Dramatiq's worker processes import: `dramatiq workers.core.app`.

Importing it is what starts a worker, so unlike every other module this one does its set-up
at import time (Dramatiq's CLI gives it no other hook).
"""

from config import load_settings
from config.logging import configure_logging
from workers.core.setup import start_worker_platform
from workers.core.shutdown import ShutdownDeadline

settings = load_settings()
configure_logging(settings)
platform, runtime = start_worker_platform(settings)
broker = platform.broker
# This process is a worker and nothing else: once stopping, it may end itself.
broker.add_middleware(ShutdownDeadline(runtime))
