"""The domain: tables and the rules and queries that belong to the data.

Importing the package registers every table on `Base.metadata` (Alembic and the tests need
the full set).
"""

from models.accounts import users  # noqa: F401 - the tables
from models.core import jobs, ops, quotas, schedules  # noqa: F401 - the tables
from models.core.base import Base
from models.orgs import invitations, organizations  # noqa: F401 - the tables

__all__ = ["Base"]
