"""CPU-heavy calls, kept from stalling a gevent process.

The API serves requests on gevent greenlets (config/server.py): one greenlet computing for
50 ms holds up every other request of its process for those 50 ms. A C call that releases
the GIL (argon2's hashing) can run on a real thread instead, while the process goes on
serving; elsewhere (workers, tests, scripts) `off_loop` just calls the function.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`, on one of gevent's real threads when the process is gevent's."""
    if _patched():
        import gevent  # noqa: PLC0415 - only in a gevent process

        return gevent.get_hub().threadpool.apply(fn, args)  # type: ignore[no-any-return]
    return fn(*args)
