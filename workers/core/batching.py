"""Taking work off a queue in batches, for the threads that write or send for many others."""

from __future__ import annotations

import queue
from typing import TypeVar

T = TypeVar("T")


def take_batch(source: queue.SimpleQueue[T | None], limit: int) -> list[T] | None:
    """Wait for one item, then take whatever else is queued, up to `limit` in all.

    None in the queue means stop: first in line, it is the answer; behind other items, it is
    put back, so that they are handled before the stop.
    """
    first = source.get()
    if first is None:
        return None
    batch = [first]
    while len(batch) < limit:
        try:
            item = source.get_nowait()
        except queue.Empty:
            break
        if item is None:
            source.put(None)
            break
        batch.append(item)
    return batch
