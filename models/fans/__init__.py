"""The fans domain: an artist's fans (the artist is the organisation), their imports and
insights. Other domains use it through the names below only."""

from models.fans.fans import Fan, FanStatus
from models.fans.insights import fan_summary, fans_by_country
from models.fans.pages import page_summary
from models.fans.releases import Release, ReleaseEvent, ReleaseStatus, release_summary

__all__ = [
    "Fan",
    "FanStatus",
    "Release",
    "ReleaseEvent",
    "ReleaseStatus",
    "fan_summary",
    "fans_by_country",
    "page_summary",
    "release_summary",
]
