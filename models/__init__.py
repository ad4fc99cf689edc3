"""The domain: tables and the rules and queries that belong to the data.

Importing the package registers every table on `Base.metadata` (Alembic and the tests need
the full set).
"""

from models import billing, webhooks  # noqa: F401 - the tables
from models.accounts import identities, leaving, users  # noqa: F401 - tables, erasers
from models.assistant import tables as assistant_tables  # noqa: F401 - the tables
from models.core import (  # noqa: F401 - the tables
    erasure,  # noqa: F401 - the jobs' personal data
    jobs,
    ops,
    quotas,
    schedules,
)
from models.core import webhooks as received  # noqa: F401 - the tables
from models.core.base import Base
from models.engagement import tables as engagement_tables  # noqa: F401 - the tables
from models.fans import (  # noqa: F401 - tables, erasers
    checkouts,
    fans,
    imports,
    pages,
    personal,
    release_files,
    releases,
)
from models.influencers import tables as influencer_tables  # noqa: F401 - the tables
from models.leads import interactions as leads_interactions  # noqa: F401 - the tables
from models.leads import people as leads_people  # noqa: F401 - its personal data
from models.leads import reports as leads_reports  # noqa: F401 - the tables
from models.leads import schedules as leads_schedules  # noqa: F401 - the tables
from models.leads import spending as leads_spending  # noqa: F401 - the tables
from models.leads import tables as leads_tables  # noqa: F401 - the tables
from models.leads import validation as leads_validation  # noqa: F401 - the tables
from models.live import people as live_people  # noqa: F401 - its personal data
from models.live import tables as live_tables  # noqa: F401 - the tables
from models.mail import people as mail_people  # noqa: F401 - its personal data
from models.mail import tables as mail_tables  # noqa: F401 - the tables
from models.notifications import tables as notification_tables  # noqa: F401 - the tables
from models.orgs import invitations, organizations, people  # noqa: F401 - the tables
from models.revenue import tables as revenue_tables  # noqa: F401 - the tables

__all__ = ["Base"]
