"""The accounts' and organisations' tables as the platform reads them: by name.

Every job belongs to a user and an organisation, and operators' figures name users; the
platform reads these few columns without importing the domains that own the tables (their
models live in models/accounts and models/orgs, and the migrations keep them in step).
"""

from __future__ import annotations

from sqlalchemy import String, column, table
from sqlalchemy.dialects.postgresql import UUID

users = table(
    "users",
    column("id", UUID(as_uuid=True)),
    column("email", String),
)

organizations = table(
    "organizations",
    column("id", UUID(as_uuid=True)),
    column("tier", String),
)
