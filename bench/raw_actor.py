"""The baseline: a no-op Dramatiq actor on the same Redis broker, with no tracking at all.

Imported by `dramatiq bench.raw_actor` in bench/throughput.py.
"""

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=os.environ["BENCH_REDIS_URL"], namespace=os.environ["BENCH_NAMESPACE"])
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="bench", max_retries=0)
def noop() -> None:
    """Nothing at all."""
