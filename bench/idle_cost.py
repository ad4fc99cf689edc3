"""What a pause costs on this machine: hand-offs, plain arithmetic, and a Flask request.

    python -m bench.idle_cost [--samples N]

The bench's latency after 2 s of idleness runs well above its busy latency. This separates
where such a price could be paid: waking a thread or a process, running a small loop, or
running a request through the API's code (Backline's Flask app answering a 404, which
touches neither the database nor Redis), each back to back and after a pause. No services
are needed.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import threading
import time
from collections.abc import Callable

PAUSES_S = (0.0, 0.01, 0.05, 0.2, 1.0, 2.0)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def after_pause(action: Callable[[], object], pause_s: float, samples: int) -> float:
    """Median milliseconds of `action` run after `pause_s` of quiet."""
    runs = []
    for _ in range(samples):
        if pause_s:
            time.sleep(pause_s)
        runs.append(timed(action))
    return statistics.median(runs)


def thread_hop() -> Callable[[], None]:
    """A round trip to another thread of this process, through two locks."""
    there, back = threading.Lock(), threading.Lock()
    there.acquire()
    back.acquire()

    def echo() -> None:
        while True:
            there.acquire()
            back.release()

    threading.Thread(target=echo, daemon=True).start()

    def hop() -> None:
        there.release()
        back.acquire()

    return hop


def process_hop() -> Callable[[], None]:
    """A round trip to another process, one byte over a socket pair."""
    mine, theirs = socket.socketpair()
    if os.fork() == 0:  # the echoing child, until this process closes its end
        mine.close()
        while data := theirs.recv(1):
            theirs.send(data)
        os._exit(0)
    theirs.close()

    def hop() -> None:
        mine.send(b"x")
        mine.recv(1)

    return hop


def arithmetic() -> int:
    total = 0
    for i in range(20_000):
        total += i * i % 7
    return total


def flask_404() -> Callable[[], object]:
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from config import load_settings
    from web import create_app

    client = create_app(load_settings()).test_client()
    return lambda: client.get("/api/v1/no-such-route")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10, help="per pause of 0.2 s or more")
    args = parser.parse_args()
    probes = {
        "thread hand-off": thread_hop(),
        "process hand-off": process_hop(),
        "arithmetic loop": arithmetic,
        "Flask 404": flask_404(),
    }
    for action in probes.values():  # warm up: imports, first calls
        for _ in range(300):
            action()
    print("median ms after a pause of " + ", ".join(f"{p:g} s" for p in PAUSES_S))
    for name, action in probes.items():
        figures = [
            after_pause(action, pause, args.samples if pause >= 0.2 else 5 * args.samples)
            for pause in PAUSES_S
        ]
        print(f"  {name:17s}" + "".join(f"{f:8.3f}" for f in figures))


if __name__ == "__main__":
    main()
