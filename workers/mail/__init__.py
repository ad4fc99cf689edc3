"""The mail domain's jobs: `email.send`, the single transactional mail (single.py); the
sending engine every campaign and sequence mail goes through (engine.py); campaign jobs
(campaigns.py), sequence steps (sequences.py); the provider's delivery, bounce and complaint
events (webhooks.py). Importing the package registers them all."""

from workers.mail import campaigns, sequences, single, webhooks
from workers.mail.campaigns import submit_senders, submit_start

__all__ = ["campaigns", "sequences", "single", "submit_senders", "submit_start", "webhooks"]
