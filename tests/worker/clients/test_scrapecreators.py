"""The creator-data client against the fake provider: key, errors sorted, retries, credits,
and one request rate shared by every client on the same Redis."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from config import Settings
from devstack.fakes import Served, serve
from devstack.fakes.scrapecreators import KEY, FakeScrapeCreators, creator
from tests.servers import ROOT
from workers.clients.scrapecreators import (
    OutOfCredits,
    ProfileNotFound,
    ProviderRefused,
    ProviderUnavailable,
    ScrapeCreators,
    SharedRate,
)


@pytest.fixture()
def fake() -> Iterator[tuple[FakeScrapeCreators, Served]]:
    app = FakeScrapeCreators()
    app.state.retry_after_s = 0
    served = serve(app)
    yield app, served
    served.stop()


def client_settings(settings: Settings, url: str, **changes: object) -> Settings:
    return settings.replace(
        scrapecreators_base_url=url,
        scrapecreators_api_key=KEY,
        broker_namespace=f"sc-{uuid.uuid4().hex[:8]}",  # a rate counter of this test's own
        scrapecreators_requests_per_s=1000,
        **changes,
    )


def test_an_answer_carries_its_body_and_what_it_cost(
    settings: Settings, fake: tuple[FakeScrapeCreators, Served]
) -> None:
    app, served = fake
    with ScrapeCreators(client_settings(settings, served.url)) as api:
        answer = api.get("/v1/tiktok/search/keyword", {"query": "gaming", "cursor": 0})
    assert len(answer.body["search_item_list"]) == 20
    assert answer.credits_charged == 1
    assert answer.credits_remaining == app.state.credits


def test_a_cached_profile_costs_nothing(
    settings: Settings, fake: tuple[FakeScrapeCreators, Served]
) -> None:
    _, served = fake
    handle = creator("tiktok", 0)["handle"]
    with ScrapeCreators(client_settings(settings, served.url)) as api:
        first = api.get("/v1/tiktok/profile", {"handle": handle, "cache_max_age": "7d"})
        second = api.get("/v1/tiktok/profile", {"handle": handle, "cache_max_age": "7d"})
    assert (first.credits_charged, first.cached) == (1, False)
    assert (second.credits_charged, second.cached) == (0, True)


def test_429_and_500_are_retried_until_an_answer(
    settings: Settings, fake: tuple[FakeScrapeCreators, Served]
) -> None:
    app, served = fake
    app.state.failure_rate = 0.5
    with ScrapeCreators(client_settings(settings, served.url, scrapecreators_attempts=20)) as api:
        for cursor in range(0, 200, 20):
            api.get("/v1/tiktok/search/keyword", {"query": "music", "cursor": cursor})
    assert sum(app.state.requests.values()) > len(app.state.answered)  # failures happened
    assert all(count == 1 for count in app.state.answered.values())


def test_retries_give_up_as_a_transient_error_honouring_retry_after(
    settings: Settings, fake: tuple[FakeScrapeCreators, Served]
) -> None:
    app, served = fake
    app.state.failure_rate = 1.0
    waits: list[float] = []
    app.state.retry_after_s = 3
    s = client_settings(settings, served.url, scrapecreators_attempts=3)
    with ScrapeCreators(s, sleep=waits.append) as api, pytest.raises(ProviderUnavailable):
        api.get("/v1/tiktok/search/keyword", {"query": "x", "cursor": 0})
    assert len(waits) == 2
    # A 429 asks for 3 s, a 500 for nothing: each wait honours what its answer asked.
    assert all(w >= 0 for w in waits)


def test_malformed_json_is_transient(
    settings: Settings, fake: tuple[FakeScrapeCreators, Served]
) -> None:
    app, served = fake
    app.state.malformed_rate = 1.0
    s = client_settings(settings, served.url, scrapecreators_attempts=2)
    with ScrapeCreators(s, sleep=lambda _: None) as api, pytest.raises(ProviderUnavailable):
        api.get("/v1/youtube/search", {"query": "x"})


def test_out_of_credits_is_permanent(
    settings: Settings, fake: tuple[FakeScrapeCreators, Served]
) -> None:
    app, served = fake
    app.state.credits = 0
    with ScrapeCreators(client_settings(settings, served.url)) as api, pytest.raises(OutOfCredits):
        api.get("/v1/tiktok/search/keyword", {"query": "x", "cursor": 0})
    assert sum(app.state.requests.values()) == 1  # not retried


def test_not_found_sent_with_200_is_permanent(
    settings: Settings, fake: tuple[FakeScrapeCreators, Served]
) -> None:
    _, served = fake
    with (
        ScrapeCreators(client_settings(settings, served.url)) as api,
        pytest.raises(ProfileNotFound),
    ):
        api.get("/v1/instagram/profile", {"handle": "nobody-here"})


def test_a_missing_or_wrong_key_is_permanent(
    settings: Settings, fake: tuple[FakeScrapeCreators, Served]
) -> None:
    _, served = fake
    no_key = client_settings(settings, served.url).replace(scrapecreators_api_key="")
    with ScrapeCreators(no_key) as api, pytest.raises(ProviderRefused, match="key is not set"):
        api.get("/v1/youtube/search", {"query": "x"})
    wrong = client_settings(settings, served.url).replace(scrapecreators_api_key="nope")
    with ScrapeCreators(wrong) as api, pytest.raises(ProviderRefused, match="401"):
        api.get("/v1/youtube/search", {"query": "x"})


def test_instagram_page_12_is_refused(
    settings: Settings, fake: tuple[FakeScrapeCreators, Served]
) -> None:
    _, served = fake
    with (
        ScrapeCreators(client_settings(settings, served.url)) as api,
        pytest.raises(ProviderRefused, match="400"),
    ):
        api.get("/v2/instagram/reels/search", {"query": "x", "page": 12})


def test_the_request_rate_is_shared_by_every_client(
    settings: Settings, fake: tuple[FakeScrapeCreators, Served]
) -> None:
    app, served = fake
    shared = client_settings(settings, served.url).replace(scrapecreators_requests_per_s=10)

    def hammer() -> None:
        with ScrapeCreators(shared) as api:
            for cursor in range(15):
                api.get("/v1/tiktok/search/keyword", {"query": "rate", "cursor": cursor})

    started = time.monotonic()
    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    # 30 requests at 10 per second over two clients: the third ten cannot start before 2 s.
    # The limiter counts each request as it leaves and the fake as it arrives, so on a busy
    # machine the delays on the way may move a request or two across a window's edge (hence
    # SCRAPECREATORS_REQUESTS_PER_S a little under the provider's limit, docs/performance.md).
    times = sorted(app.state.times)
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 12
    assert elapsed >= 2.0
    assert len(times) == 30


def test_a_redis_on_a_unix_socket_is_understood() -> None:
    # make run's embedded Redis listens on a socket; the rate counter must take its URL.
    SharedRate("unix:///tmp/backline-redis.sock?db=0", 5)


def test_a_busy_organization_does_not_starve_another_of_the_shared_rate(
    settings: Settings, fake: tuple[FakeScrapeCreators, Served]
) -> None:
    app, served = fake
    shared = client_settings(settings, served.url).replace(scrapecreators_requests_per_s=20)
    made: dict[str, list[float]] = {"big": [], "small": []}
    stop = threading.Event()

    def searches(org: str) -> None:
        with ScrapeCreators(shared, tenant=org) as api:
            while not stop.is_set():
                api.get("/v1/youtube/search", {"query": org})
                made[org].append(time.monotonic())

    # The big organisation runs six searches at once, the small one a single search.
    threads = [threading.Thread(target=searches, args=("big",)) for _ in range(6)]
    threads.append(threading.Thread(target=searches, args=("small",)))
    for thread in threads:
        thread.start()
    time.sleep(3.0)
    stop.set()
    for thread in threads:
        thread.join()

    window_start = made["small"][0] + 0.5  # once both are under way
    big = sum(1 for t in made["big"] if t >= window_start)
    small = sum(1 for t in made["small"] if t >= window_start)
    # Without shares the single search would get about 1/7 of the rate; with them, half.
    assert small / (big + small) >= 0.4
    assert big + small <= 20 * 2.6 + 2  # and the two together keep to the shared rate


_PROCESS = """
import sys
from config import Settings
from workers.clients.scrapecreators import ScrapeCreators
url, redis_url, namespace = sys.argv[1:4]
settings = Settings(
    redis_url=redis_url, broker_namespace=namespace, scrapecreators_base_url=url,
    scrapecreators_api_key=sys.argv[4], scrapecreators_requests_per_s=10,
)
with ScrapeCreators(settings) as api:
    for cursor in range(20):
        api.get("/v1/tiktok/search/keyword", {"query": "processes", "cursor": cursor})
"""


def test_the_request_rate_holds_across_two_processes(
    settings: Settings, fake: tuple[FakeScrapeCreators, Served]
) -> None:
    app, served = fake
    namespace = f"sc-{uuid.uuid4().hex[:8]}"
    args = [sys.executable, "-c", _PROCESS, served.url, settings.redis_url, namespace, KEY]
    processes = [subprocess.Popen(args, cwd=ROOT) for _ in range(2)]
    assert [p.wait(timeout=60) for p in processes] == [0, 0]

    times = sorted(app.state.times)
    assert len(times) == 40
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 12  # 10 per second, give or take the delays on the way (above)
    assert times[-1] - times[0] >= 3.0
