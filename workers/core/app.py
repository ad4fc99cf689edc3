"""The module Dramatiq's worker processes import: `dramatiq workers.core.app`.

Importing it is what starts a worker, so unlike every other module this one does its set-up
at import time (Dramatiq's CLI gives it no other hook).
"""

from config import load_settings
from config.logging import configure_logging
from workers.core.setup import start_worker_platform

settings = load_settings()
configure_logging(settings)
platform, runtime = start_worker_platform(settings)
broker = platform.broker
