"""An artist's fans: one list per organisation (the artist), unique by e-mail.

Search is a substring match on name and e-mail, served by a trigram index on `search_text`
(a stored lower-cased copy of both), so it stays fast on a million fans; lists are pages
newest first by (created_at, id).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Computed,
    ForeignKey,
    Index,
    Select,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from models.core.addresses import normalise_email
from models.core.base import Base, now_ts, timestamp, utcnow, uuid_pk
from models.core.errors import Conflict, NotFound
from models.core.pages import decode_cursor, encode_cursor, newest_first


class FanStatus(enum.StrEnum):
    FREE = "free"
    PAID = "paid"


class Gender(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"
    NON_BINARY = "non_binary"
    UNDISCLOSED = "undisclosed"


# The columns a client may set on a fan (and an import may map a CSV column to).
FAN_FIELDS = (
    "name",
    "email",
    "phone",
    "country",
    "gender",
    "age",
    "birth_year",
    "status",
    "source",
    "tags",
    "consent",
)


class Fan(Base):
    """One fan of one artist (organisation)."""

    __tablename__ = "fans"
    __table_args__ = (
        UniqueConstraint("org_id", "email", name="uq_fans_org_id_email"),
        Index("ix_fans_org_id_created_at", "org_id", "created_at", "id"),
        Index(
            "ix_fans_search_text",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        CheckConstraint("status IN ('free', 'paid')", name="status"),
        CheckConstraint(
            "gender IS NULL OR gender IN ('female', 'male', 'non_binary', 'undisclosed')",
            name="gender",
        ),
        CheckConstraint("age IS NULL OR age BETWEEN 1 AND 130", name="age"),
        CheckConstraint(
            "birth_year IS NULL OR birth_year BETWEEN 1880 AND 2100", name="birth_year"
        ),
        CheckConstraint("country IS NULL OR country ~ '^[A-Z]{2}$'", name="country"),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    country: Mapped[str | None] = mapped_column(String(2))
    gender: Mapped[str | None] = mapped_column(String(20))
    age: Mapped[int | None] = mapped_column(SmallInteger)
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(10), server_default=FanStatus.FREE.value)
    source: Mapped[str] = mapped_column(String(50), server_default="manual")
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), server_default="{}")
    consent: Mapped[bool] = mapped_column(server_default="false")
    consent_at: Mapped[timestamp | None]
    search_text: Mapped[str] = mapped_column(
        Text, Computed("lower(coalesce(name, '') || ' ' || email)", persisted=True)
    )
    created_at: Mapped[now_ts]
    updated_at: Mapped[now_ts] = mapped_column(onupdate=func.now())


@dataclass(frozen=True)
class FanFilter:
    search: str | None = None
    status: str | None = None
    country: str | None = None
    source: str | None = None
    gender: str | None = None
    tag: str | None = None


def _duplicate(existing: Fan) -> Conflict:
    return Conflict(
        "this artist already has a fan with this e-mail address",
        details={"fan_id": str(existing.id), "fan": _summary(existing)},
    )


def _summary(fan: Fan) -> dict[str, Any]:
    return {"id": str(fan.id), "name": fan.name, "email": fan.email, "status": fan.status}


def find_by_email(*, session: Session, org_id: uuid.UUID, email: str) -> Fan | None:
    return session.scalar(select(Fan).where(Fan.org_id == org_id, Fan.email == email))


def create_fan(*, session: Session, org_id: uuid.UUID, values: dict[str, Any]) -> Fan:
    """A new fan; Conflict (naming the existing one) when the address is on the list."""
    values = {**values, "email": normalise_email(values["email"])}
    if values.get("consent"):
        values["consent_at"] = utcnow()
    # ON CONFLICT: two concurrent adds of one address cannot both pass a check-then-insert.
    added = session.scalar(
        insert(Fan)
        .values(org_id=org_id, **values)
        .on_conflict_do_nothing(constraint="uq_fans_org_id_email")
        .returning(Fan.id)
    )
    if added is None:
        existing = find_by_email(session=session, org_id=org_id, email=values["email"])
        assert existing is not None  # noqa: S101 - the conflict says it exists
        raise _duplicate(existing)
    return get_fan(session=session, org_id=org_id, fan_id=added)


def get_fan(*, session: Session, org_id: uuid.UUID, fan_id: uuid.UUID) -> Fan:
    """The organisation's fan; NotFound for any other (another artist's included)."""
    fan = session.scalar(select(Fan).where(Fan.id == fan_id, Fan.org_id == org_id))
    if fan is None:
        raise NotFound("no fan with this id", details={"fan_id": str(fan_id)})
    return fan


def update_fan(
    *, session: Session, org_id: uuid.UUID, fan_id: uuid.UUID, values: dict[str, Any]
) -> Fan:
    fan = get_fan(session=session, org_id=org_id, fan_id=fan_id)
    if "email" in values:
        values = {**values, "email": normalise_email(values["email"])}
        other = find_by_email(session=session, org_id=org_id, email=values["email"])
        if other is not None and other.id != fan.id:
            raise _duplicate(other)
    if values.get("consent") and not fan.consent:
        fan.consent_at = utcnow()
    try:
        # In a savepoint: another request may take the address between the check and here.
        with session.begin_nested():
            for name, value in values.items():
                setattr(fan, name, value)
    except IntegrityError:
        other = find_by_email(session=session, org_id=org_id, email=values["email"])
        if other is None:
            raise
        raise _duplicate(other) from None
    return fan


# A search first looks among this many of the newest fans (an index scan in order, cheap);
# only a term too rare to fill a page there is looked up through the trigram index.
RECENT_WINDOW = 20_000


def list_fans(
    *, session: Session, org_id: uuid.UUID, filters: FanFilter, cursor: str | None, limit: int
) -> tuple[list[Fan], str | None]:
    """One page of the organisation's fans, newest first, filtered."""
    query = select(Fan).where(Fan.org_id == org_id)
    for column, value in (
        (Fan.status, filters.status),
        (Fan.country, filters.country),
        (Fan.source, filters.source),
        (Fan.gender, filters.gender),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.tag is not None:
        query = query.where(Fan.tags.contains([filters.tag]))
    if filters.search:
        return _search(session, query, filters.search.lower(), cursor, limit)
    return newest_first(
        session=session,
        query=query,
        created_at=Fan.created_at,
        row_id=Fan.id,
        cursor=cursor,
        limit=limit,
    )


def _search(
    session: Session, query: Select[Any], term: str, cursor: str | None, limit: int
) -> tuple[list[Fan], str | None]:
    """A page of the fans whose name or address contains `term`, newest first.

    The planner cannot tell a rare term from a common one (its statistics hold a hundred
    sample values), and guessing wrong costs a second on a million fans either way: walking
    the newest fans for a term that is rare, or gathering every match of a term that is
    everywhere. So a search looks among the RECENT_WINDOW newest first; a term that fills the
    page there is common and that page is the answer. Otherwise the term is rare (under
    one match in RECENT_WINDOW / limit) and its matches, gathered through the trigram index
    and sorted, are few.
    """
    if cursor:
        after_created, after_id = decode_cursor(cursor)
        query = query.where(
            or_(
                Fan.created_at < after_created,
                and_(Fan.created_at == after_created, Fan.id < after_id),
            )
        )
    newest = (Fan.created_at.desc(), Fan.id.desc())
    matches = Fan.search_text.contains(term, autoescape=True)
    recent = aliased(Fan, query.order_by(*newest).limit(RECENT_WINDOW).subquery())
    rows = list(
        session.scalars(
            select(recent)
            .where(recent.search_text.contains(term, autoescape=True))
            .order_by(recent.created_at.desc(), recent.id.desc())
            .limit(limit + 1)
        )
    )
    if len(rows) <= limit:
        hits = (
            query.with_only_columns(Fan.id).where(matches).cte("hits").prefix_with("MATERIALIZED")
        )
        rows = list(
            session.scalars(
                select(Fan).join(hits, hits.c.id == Fan.id).order_by(*newest).limit(limit + 1)
            )
        )
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last.created_at, last.id)
