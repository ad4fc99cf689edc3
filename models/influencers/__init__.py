"""The influencer domain: campaigns, their creator searches, the creators found, and each
organisation's exclusion list. Other domains use it through the names below only."""

from models.influencers import people  # noqa: F401 - registers what it holds about people
from models.influencers.tables import (
    Campaign,
    CampaignStatus,
    Creator,
    Platform,
    Search,
    SearchState,
    SearchType,
    StopReason,
)

__all__ = [
    "Campaign",
    "CampaignStatus",
    "Creator",
    "Platform",
    "Search",
    "SearchState",
    "SearchType",
    "StopReason",
]
