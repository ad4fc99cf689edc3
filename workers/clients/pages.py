"""Fetching a web page a search found: public addresses only (outbound.py), a time and a size
cap, and the site's robots.txt honoured (read once per host per fetcher)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from config import Settings
from workers.clients.outbound import public_client

log = logging.getLogger("backline.clients.pages")
USER_AGENT = "BacklineLeads/1.0 (+https://backline.example/bot)"
ROBOTS_MAX_BYTES = 64 * 1024


class PageSkipped(Exception):
    """The page was not fetched: robots.txt, an address refused, too large, an error."""


class Fetcher:
    def __init__(self, settings: Settings) -> None:
        self.max_bytes = settings.leads_fetch_max_bytes
        self.client = public_client(
            settings,
            timeout=settings.leads_fetch_timeout_s,
            follow_redirects=True,
            max_redirects=3,
            headers={"User-Agent": USER_AGENT},
        )
        self._robots: dict[str, RobotFileParser] = {}

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _read(self, url: str, cap: int) -> tuple[int, str]:
        with self.client.stream("GET", url) as response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                raise PageSkipped(f"{url} is larger than {cap} bytes")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > cap:
                    raise PageSkipped(f"{url} is larger than {cap} bytes")
            return response.status_code, body.decode(response.encoding or "utf-8", "replace")

    def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        robots = self._robots.get(origin)
        if robots is None:
            robots = RobotFileParser()
            try:
                status, text = self._read(f"{origin}/robots.txt", ROBOTS_MAX_BYTES)
            except (httpx.HTTPError, PageSkipped):
                status, text = 404, ""
            if status in (401, 403):
                robots.parse(["User-agent: *", "Disallow: /"])
            elif status < 400:
                robots.parse(text.splitlines())
            else:
                robots.parse([])  # no robots.txt: everything allowed
            self._robots[origin] = robots
        return robots.can_fetch(USER_AGENT, url)

    def fetch(self, url: str) -> str:
        """The page's text; PageSkipped when it may not or cannot be read."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise PageSkipped(f"{url} is not a web page")
        try:
            if not self.allowed(url):
                raise PageSkipped(f"robots.txt disallows {url}")
            status, text = self._read(url, self.max_bytes)
        except httpx.HTTPError as exc:
            raise PageSkipped(f"{url}: {type(exc).__name__}: {exc}") from exc
        if status >= 400:
            raise PageSkipped(f"{url} answered {status}")
        return text
