"""The domain: tables and the rules and queries that belong to the data.

Importing the package registers every table on `Base.metadata` (Alembic and the tests need
the full set).
"""

from models import accounts, invitations, jobs, ops, orgs, quotas  # noqa: F401 - the tables
from models.base import Base

__all__ = ["Base"]
