"""Influencer searches against a provider that allows R requests per second: how much of R two
worker processes use, and how many 429s they draw, with the shared rate and without it.

Each process makes the provider calls one TikTok search of TARGET results makes (pages of 20,
then a profile per creator) through the real client and the platform's functions, against the
fake provider enforcing R (429 past it). The baseline runs the same processes with no shared
rate, each only retrying its 429s after the Retry-After, as a client that does not pace itself.

    .venv/bin/python -m bench.influencers            # R=50, TARGET=100: a few seconds
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from config import Settings
from devstack.fakes import serve
from devstack.fakes.scrapecreators import KEY, FakeScrapeCreators
from tests import servers

R = int(os.environ.get("BENCH_RATE", "50"))
TARGET = int(os.environ.get("BENCH_TARGET", "100"))
PROCESSES = 2


def one_search(url: str, redis_url: str, namespace: str, per_second: int, query: str) -> None:
    """A search's provider calls, in this process."""
    from workers.clients.scrapecreators import ScrapeCreators  # noqa: PLC0415
    from workers.influencers.platforms import tiktok_profile, tiktok_search  # noqa: PLC0415

    settings = Settings(
        redis_url=redis_url,
        broker_namespace=namespace,
        scrapecreators_base_url=url,
        scrapecreators_api_key=KEY,
        scrapecreators_requests_per_s=per_second,
        scrapecreators_attempts=50,
    )
    with ScrapeCreators(settings) as api:
        handles: list[str] = []
        page = None
        while len(handles) < TARGET:
            found, _ = tiktok_search(api, query, page)
            handles += [r.handle for r in found.records]
            page = found.following
        for handle in handles[:TARGET]:
            tiktok_profile(api, handle, "")


def run(url: str, redis_url: str, per_second: int) -> float:
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.influencers",
                "--search",
                url,
                redis_url,
                namespace,
                str(per_second),
                f"query{n}",
            ]  # fmt: skip
        )
        for n in range(PROCESSES)
    ]
    for process in processes:
        if process.wait() != 0:
            raise SystemExit("a search process failed")
    return time.monotonic() - started


def measure(label: str, per_second: int, redis_url: str) -> None:
    app = FakeScrapeCreators()
    app.state.rate_limit_per_s = R
    served = serve(app)
    try:
        elapsed = run(served.url, redis_url, per_second)
    finally:
        served.stop()
    answered = sum(app.state.answered.values())
    times = sorted(app.state.times)
    span = times[-1] - times[0]
    print(
        f"{label:<34} {answered:>5} answered in {span:5.2f} s = {answered / span:6.1f}/s"
        f" ({100 * answered / span / R:5.1f} % of R={R}), {app.state.rate_limited:>4} 429s,"
        f" wall {elapsed:5.2f} s"
    )


def main() -> None:
    redis_url = servers.redis_url()
    print(f"{PROCESSES} processes, each a TikTok search of {TARGET} results, provider at R={R}/s")
    measure("baseline: no shared rate", 100_000, redis_url)
    measure(f"shared rate at R ({R}/s)", R, redis_url)
    measure(f"shared rate at 95 % of R ({R * 95 // 100}/s)", R * 95 // 100, redis_url)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--search"]:
        url, redis_url, namespace, per_second, query = sys.argv[2:7]
        one_search(url, redis_url, namespace, int(per_second), query)
    else:
        main()
