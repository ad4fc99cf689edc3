"""The throttle's schedule and the reading of User-Agent headers (no database needed)."""

from __future__ import annotations

import pytest

from models.accounts.devices import Device, parse_user_agent
from models.accounts.logins import MAX_DELAY_S, delay_s

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.0 Mobile/15E148 Safari/604.1"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def test_five_failures_are_free_then_the_delay_doubles_up_to_fifteen_minutes() -> None:
    assert [delay_s(n) for n in range(9)] == [0, 0, 0, 0, 0, 1, 2, 4, 8]
    assert delay_s(14) == 512
    assert delay_s(15) == delay_s(1000) == MAX_DELAY_S == 900


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (IPHONE, Device("mobile", "Mobile Safari 17", "iOS 17")),
        (WINDOWS_CHROME, Device("desktop", "Chrome 120", "Windows 10")),
        (IPAD, Device("tablet", "Mobile Safari 16", "iOS 16")),
        (ANDROID_TABLET, Device("tablet", "Chrome 120", "Android 13")),
        (GOOGLEBOT, Device("bot", "Googlebot 2", None)),
        ("python-httpx/0.27.0", Device("other", None, None)),
        ("", Device("other", None, None)),
        (None, Device("other", None, None)),
    ],
)
def test_user_agents_are_read_as_device_type_browser_and_os(
    user_agent: str | None, expected: Device
) -> None:
    assert parse_user_agent(user_agent) == expected


def test_a_huge_user_agent_is_cut_before_it_is_parsed() -> None:
    assert parse_user_agent(WINDOWS_CHROME + "x" * 100_000).device == "desktop"
