"""Background jobs: the job platform in core/, clients of external services in clients/, and
one module (or package) of job kinds and periodic jobs per product domain.

DOMAINS lists those modules: the registry imports them to learn every kind and schedule. A new
domain adds its line here and nothing else.
"""

DOMAINS = (
    "workers.accounts",
    "workers.mail",
    "workers.influencers",
    "workers.billing",
    "workers.webhooks",
    "workers.fans",
    "workers.revenue",
    "workers.leads",
    "workers.notifications",
    "workers.live",
    "workers.assistant",
)
