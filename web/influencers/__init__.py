"""The influencer domain's API: campaigns, searches, creators, exports, exclusions, credits."""

from web.influencers import campaigns, searches

blueprints = [campaigns.blp, searches.blp]
