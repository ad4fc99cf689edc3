"""The declarative base and the column types every domain shares."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import DateTime, MetaData, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, mapped_column

# Constraint names are spelled out so Alembic migrations stay stable and reviewable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

uuid_pk = Annotated[
    uuid.UUID,
    mapped_column(UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
]
now_ts = Annotated[
    datetime, mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
]
timestamp = Annotated[datetime, mapped_column(DateTime(timezone=True))]
json_doc = Annotated[dict[str, Any], mapped_column(JSONB)]


class Base(DeclarativeBase):
    """Base of every Backline table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSONB}


def utcnow() -> datetime:
    return datetime.now(UTC)


def digest(token: str) -> str:
    """The stored form of a secret token handed to a user (only its SHA-256 is kept)."""
    return hashlib.sha256(token.encode()).hexdigest()
