"""The fans domain: an artist's fans (the artist is the organisation), their imports and
insights. Other domains use it through the names below only."""

from models.fans.fans import Fan, FanStatus
from models.fans.releases import Release, ReleaseEvent, ReleaseStatus

__all__ = ["Fan", "FanStatus", "Release", "ReleaseEvent", "ReleaseStatus"]
