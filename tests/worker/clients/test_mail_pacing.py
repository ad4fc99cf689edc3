"""The send pace holds across OS processes sharing one Redis, per recipient domain too, and a
slow-down one process asks for slows every process."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

from config import Settings
from tests.servers import ROOT
from workers.clients.mail_pacing import MailPacer

# One sender process: `count` sends paced by the shared bucket; prints when each was let go.
_SENDER = """
import sys, time
from workers.clients.mail_pacing import MailPacer
redis_url, key, per_s, per_domain, count = sys.argv[1:6]
domains = sys.argv[6].split(",")
pacer = MailPacer(redis_url, float(per_s), float(per_domain), key=key)
for n in range(int(count)):
    pacer.wait(domains[n % len(domains)])
    print(time.time(), flush=True)
"""


def run_senders(
    settings: Settings, key: str, per_s: float, count: int, processes: int = 2
) -> list[float]:
    """Let go times of `processes` senders of `count` mails each, to many domains."""
    domains = ",".join(f"d{n}.test" for n in range(50))
    args = [sys.executable, "-c", _SENDER, settings.redis_url, key, str(per_s), "1000"]
    started = [
        subprocess.Popen([*args, str(count), domains], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    times: list[float] = []
    for process in started:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        times.extend(float(line) for line in out.split())
    return sorted(times)


def busiest_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


def test_two_processes_keep_to_one_shared_rate(settings: Settings) -> None:
    key = f"pace-{uuid.uuid4().hex[:8]}"
    times = run_senders(settings, key, per_s=20, count=30)

    assert len(times) == 60
    # 60 sends at 20 a second: the last cannot go before 59 / 20 s after the first.
    assert times[-1] - times[0] >= 59 / 20 - 0.05
    assert busiest_second(times) <= 21


def test_a_slow_down_halves_the_rate_of_every_process(settings: Settings) -> None:
    key = f"pace-{uuid.uuid4().hex[:8]}"
    pacer = MailPacer(settings.redis_url, 20, 1000, slowdown_s=30, key=key)
    pacer.slow_down(None)  # as a 429 in another process would
    assert pacer.rate() == 10.0

    times = run_senders(settings, key, per_s=20, count=10)

    assert len(times) == 20
    assert times[-1] - times[0] >= 19 / 10 - 0.05  # 10 a second, not 20
    assert busiest_second(times) <= 11
    pacer.close()


def test_the_rate_comes_back_after_the_slow_down(settings: Settings) -> None:
    key = f"pace-{uuid.uuid4().hex[:8]}"
    pacer = MailPacer(settings.redis_url, 20, 1000, slowdown_s=0.5, key=key)
    pacer.slow_down(None)
    pacer.slow_down(None)  # a burst of 429s halves once a second, not once each
    assert pacer.rate() == 10.0
    time.sleep(0.6)
    assert pacer.rate() == 20.0
    pacer.close()


def test_the_providers_wait_holds_every_send(settings: Settings) -> None:
    key = f"pace-{uuid.uuid4().hex[:8]}"
    pacer = MailPacer(settings.redis_url, 100, 1000, slowdown_s=5, key=key)
    pacer.wait("example.test")
    pacer.slow_down(1.0)  # Retry-After: 1
    started = time.monotonic()
    pacer.wait("example.test")
    assert time.monotonic() - started >= 0.95
    pacer.close()


def test_one_domain_is_paced_apart_from_the_others(settings: Settings) -> None:
    key = f"pace-{uuid.uuid4().hex[:8]}"
    pacer = MailPacer(settings.redis_url, 200, 5, key=key)
    started = time.monotonic()
    for n in range(20):
        pacer.wait(f"d{n}.test")  # 20 domains: the shared rate only
    many_domains_s = time.monotonic() - started
    started = time.monotonic()
    for _ in range(6):
        pacer.wait("gmail.test")  # one domain at 5 a second
    one_domain_s = time.monotonic() - started

    assert many_domains_s < 0.5
    assert one_domain_s >= 5 / 5 - 0.05
    pacer.close()
