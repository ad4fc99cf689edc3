"""What a User-Agent says about the device behind a login: type, browser and OS.

Parsed with ua-parser (the uap-core rules). The device type is our own coarse reading of its
answer, for people looking at their sessions: desktop, mobile, tablet, bot or other (scripts,
unknown clients).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ua_parser import Result, parse

MAX_USER_AGENT = 400  # what the tables keep; also bounds the parser's work on hostile input
_MOBILE_OS = {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS"}
_DESKTOP_OS = {
    "Windows",
    "Mac OS X",
    "macOS",
    "Linux",
    "Ubuntu",
    "Fedora",
    "Debian",
    "Chrome OS",
    "ChromeOS",
    "FreeBSD",
    "OpenBSD",
}


@dataclass(frozen=True)
class Device:
    device: str
    browser: str | None
    os: str | None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def _name(family: str | None, major: str | None) -> str | None:
    if not family or family == "Other":
        return None
    return f"{family} {major}"[:100] if major else family[:100]


def _kind(result: Result, user_agent: str) -> str:
    device = result.device.family if result.device else ""
    brand = (result.device.brand or "") if result.device else ""
    os = result.os.family if result.os else ""
    if device == "Spider":
        return "bot"
    if device == "iPad" or "Tablet" in brand or "Tablet" in device:
        return "tablet"
    # Android phones say "Mobile"; Android tablets do not (Google's convention).
    if os == "Android" and "Mobile" not in user_agent:
        return "tablet"
    if os in _MOBILE_OS or device == "iPhone":
        return "mobile"
    if os in _DESKTOP_OS:
        return "desktop"
    return "other"


def parse_user_agent(user_agent: str | None) -> Device:
    """The device type, browser and OS a User-Agent header names ("other" when it is empty)."""
    user_agent = (user_agent or "")[:MAX_USER_AGENT]
    if not user_agent.strip():
        return Device("other", None, None)
    result = parse(user_agent)
    agent, os = result.user_agent, result.os
    return Device(
        _kind(result, user_agent),
        _name(agent.family, agent.major) if agent else None,
        _name(os.family, os.major) if os else None,
    )
