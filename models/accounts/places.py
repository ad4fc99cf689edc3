"""Where a login came from: country (and city, where the data has it) from the client's IP,
with the offline database geoip2fast ships in its package. Nothing leaves the machine.

The database loads on first use (about 0.3 s, once per process). Private, loopback and
unlisted addresses have no place.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

_LOCK = threading.Lock()
_DATABASE: list[Any] = []


@dataclass(frozen=True)
class Place:
    country: str | None  # ISO 3166-1 alpha-2, "GB"
    city: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"country": self.country, "city": self.city}


NOWHERE = Place(None, None)


def _database() -> Any:
    if not _DATABASE:
        with _LOCK:
            if not _DATABASE:
                from geoip2fast import GeoIP2Fast  # loads its data file: only when first used

                _DATABASE.append(GeoIP2Fast())
    return _DATABASE[0]


def locate(ip: str | None) -> Place:
    if not ip:
        return NOWHERE
    try:
        found = _database().lookup(ip)
    except Exception:  # noqa: BLE001 - a malformed address has no place; the login goes on
        return NOWHERE
    country = found.country_code
    if getattr(found, "is_private", False) or not country or len(country) != 2 or country == "--":
        return NOWHERE
    city = getattr(getattr(found, "city", None), "name", "") or None
    return Place(country.upper(), city[:100] if city else None)
