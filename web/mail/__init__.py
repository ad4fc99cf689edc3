"""The mail domain's API: campaigns, sequences, the suppression list, and the links in a sent
mail (one-click unsubscribe, open pixel, click redirects)."""

from web.mail import campaigns, public, sequences

blueprints = [campaigns.blp, sequences.blp, sequences.suppressions_blp, public.blp]
