"""Contact details found in a web page: e-mail addresses, phone numbers, social profiles and
the company's name, normalised so the same detail found twice counts once."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Addresses that reach a function rather than a person (scored lower, flagged on validation).
_ROLES = "admin billing contact enquiries hello help info inquiries marketing no-reply noreply"
ROLE_LOCALPARTS = frozenset(f"{_ROLES} office postmaster sales support team webmaster".split())
SOCIAL_HOSTS = (
    "linkedin.com",
    "twitter.com",
    "x.com",
    "facebook.com",
    "instagram.com",
    "youtube.com",
    "tiktok.com",
)
MAX_EACH = 10

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}"
)
_PHONE = re.compile(r"(?:tel:|\+)[\d\s().-]{7,20}\d")
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SITE_NAME = re.compile(
    r"""<meta[^>]+property=["']og:site_name["'][^>]+content=["']([^"']+)["']""", re.IGNORECASE
)
_TAGS = re.compile(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)
_ASSET = re.compile(r"\.(png|jpe?g|gif|svg|webp|css|js)$", re.IGNORECASE)


@dataclass
class Contacts:
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    social: list[str] = field(default_factory=list)
    company_name: str = ""
    text: str = ""


def company_domain(url: str) -> str | None:
    """The host a lead is known by: lower-cased, without "www." and port."""
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:  # not a URL (an unbalanced "[", a bad port)
        return None
    if not host or "." not in host:
        return None
    return host.removeprefix("www.")


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))[:MAX_EACH]


def extract(page: str) -> Contacts:
    """The contact details in one HTML page."""
    hrefs = [html.unescape(h) for h in _HREF.findall(page)]
    text = html.unescape(_TAGS.sub(" ", page))
    mailtos = [h[7:].split("?", 1)[0] for h in hrefs if h.lower().startswith("mailto:")]
    emails = [
        e.lower()
        for e in mailtos + _EMAIL.findall(text)
        if _EMAIL.fullmatch(e) and not _ASSET.search(e)
    ]
    phones = [
        "+" + re.sub(r"\D", "", p) if p.startswith("+") or "+" in p else re.sub(r"\D", "", p)
        for p in _PHONE.findall(" ".join([text, *hrefs]))
    ]
    social = [
        h.split("?", 1)[0].rstrip("/")
        for h in hrefs
        if (company_domain(h) or "").removeprefix("m.") in SOCIAL_HOSTS
    ]
    name = _SITE_NAME.search(page) or _TITLE.search(page)
    company = html.unescape(name.group(1)).strip().split(" | ")[0].split(" - ")[0] if name else ""
    return Contacts(
        emails=_unique(emails),
        phones=_unique([p for p in phones if 8 <= len(p.lstrip("+")) <= 15]),
        social=_unique(social),
        company_name=company[:200],
        text=" ".join(text.split()).lower()[:20000],
    )
