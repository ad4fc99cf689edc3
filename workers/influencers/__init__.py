"""The influencer domain's job kinds: `influencers.search` (a campaign's creator search, paged,
resumable, within its credit budget, then enriched) and `influencers.export` (a campaign's
creators as a CSV file)."""

from workers.influencers.jobs import export_creators, run_search

__all__ = ["export_creators", "run_search"]
