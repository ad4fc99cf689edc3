"""The Brave Search client's pace, shared through Redis by separate worker processes."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from config import Settings
from devstack.fakes import Served, serve
from devstack.fakes.brave import FakeBrave
from tests.servers import ROOT

RATE_PER_S = 8
SEARCHES = 10

# One worker process: its own interpreter, its own client, the same Redis and namespace.
_PROCESS = """
import sys
from config import Settings
from workers.clients.brave import Brave
url, redis_url, namespace, name, searches = sys.argv[1:6]
settings = Settings(
    redis_url=redis_url, broker_namespace=namespace, brave_base_url=url,
    brave_api_key="test-key", brave_max_wait_s=5.0,
)
with Brave(settings) as brave:
    print("ready", flush=True)
    sys.stdin.readline()  # both processes start searching together, however slow to start
    for n in range(int(searches)):
        page = brave.search(f"{name} plumber {n}")
        assert page.results and not page.cached, page
"""


@pytest.fixture()
def fake() -> Iterator[tuple[FakeBrave, Served]]:
    app = FakeBrave(rate_per_s=RATE_PER_S)
    served = serve(app)
    yield app, served
    served.stop()


def test_the_pace_holds_across_two_worker_processes(
    settings: Settings, fake: tuple[FakeBrave, Served]
) -> None:
    app, served = fake
    namespace = f"brave-{uuid.uuid4().hex[:8]}"  # a pace of this test's own
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _PROCESS,
                served.url + "/res/v1",
                settings.redis_url,
                namespace,
                name,
                str(SEARCHES),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("first", "second")
    ]
    for process in processes:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    assert [p.wait(timeout=60) for p in processes] == [0, 0]

    assert app.rejected == 0  # not one call sooner than the plan allows
    assert app.calls == 2 * SEARCHES
    assert app.busiest(1.0) <= RATE_PER_S
    # Both made progress side by side: each process's calls interleave with the other's.
    order = [query.split()[0] for query, _ in app.queries]
    assert order.count("first") == order.count("second") == SEARCHES
    assert "second" in order[:SEARCHES] and "first" in order[SEARCHES:]
