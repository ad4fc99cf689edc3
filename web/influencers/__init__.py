"""The influencer domain's API: campaigns, searches, creators, exports, exclusions, credits,
and the avatar proxy."""

from web.influencers import campaigns, media, searches

blueprints = [campaigns.blp, searches.blp, media.blp]
