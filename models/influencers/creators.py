"""Creators: one record per campaign, platform and platform id, whatever platform it came from.

`add_found` stores a page's creators, skipping the organisation's exclusions and those the
campaign has already (a similar search that meets one again through another term adds the
term to its reasons). `results` pages through a campaign's creators by a keyset on the chosen
order, with filters; `export_rows` streams them for a CSV.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.core.errors import InvalidInput
from models.influencers.tables import Creator, Exclusion, Search

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
SORTS = ("newest", "followers", "engagement", "relevance")


@dataclass
class CreatorRecord:
    """A creator as one platform's answer describes it, in the shape every platform shares."""

    platform: str
    platform_id: str
    handle: str
    display_name: str = ""
    profile_url: str = ""
    avatar_url: str = ""
    followers: int | None = None
    bio: str = ""
    emails: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    country: str | None = None
    engagement_rate: Decimal | None = None
    engagement_formula: str | None = None
    content: dict[str, Any] = field(default_factory=dict)
    terms: list[str] = field(default_factory=list)  # the search terms that found it


def emails_in(*texts: str | None) -> list[str]:
    """The distinct e-mail addresses written in `texts`, lower-cased, in order."""
    found: dict[str, None] = {}
    for text in texts:
        for match in EMAIL.findall(text or ""):
            found.setdefault(match.lower().rstrip("."), None)
    return list(found)


def excluded_ids(*, session: Session, org_id: uuid.UUID, platform: str, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    return set(
        session.scalars(
            select(Exclusion.platform_id).where(
                Exclusion.org_id == org_id,
                Exclusion.platform == platform,
                Exclusion.platform_id.in_(ids),
            )
        )
    )


def keeps(record: CreatorRecord, filters: dict[str, Any]) -> bool:
    """Whether the record passes the search's filters on what it tells already (a figure the
    platform's search does not give is checked after enrichment)."""
    bounds = (
        (record.followers, filters.get("followers_min"), filters.get("followers_max")),
        (record.engagement_rate, filters.get("engagement_min"), filters.get("engagement_max")),
    )
    for value, low, high in bounds:
        if value is None:
            continue
        figure = Decimal(str(value))
        if low is not None and figure < Decimal(str(low)):
            return False
        if high is not None and figure > Decimal(str(high)):
            return False
    country = filters.get("country")
    return not (country and record.country and record.country.upper() != country.upper())


def add_found(*, session: Session, search: Search, records: list[CreatorRecord], room: int) -> int:
    """Store up to `room` new creators of `records` for the search; how many were new."""
    skip = excluded_ids(
        session=session,
        org_id=search.org_id,
        platform=search.platform,
        ids=[r.platform_id for r in records],
    )
    added = 0
    for record in records:
        if record.platform_id in skip or not keeps(record, search.filters):
            continue
        if added >= room:
            _add_terms(session, search, record)
            continue
        values = _row(search, record)
        statement = (
            insert(Creator)
            .values(**values)
            .on_conflict_do_nothing(constraint="uq_influencer_creators")
            .returning(Creator.id)
        )
        if session.scalar(statement) is not None:
            added += 1
        else:
            _add_terms(session, search, record)
    return added


def _add_terms(session: Session, search: Search, record: CreatorRecord) -> None:
    """A creator this search found before, met again through other terms: one more reason."""
    new_terms = [t for t in record.terms if t]
    if not new_terms:
        return
    creator = session.scalar(
        select(Creator)
        .where(
            Creator.campaign_id == search.campaign_id,
            Creator.platform == record.platform,
            Creator.platform_id == record.platform_id,
            Creator.search_id == search.id,
        )
        .with_for_update()
    )
    if creator is None:
        return
    terms = list(dict.fromkeys([*creator.match_terms, *new_terms]))
    if terms != creator.match_terms:
        creator.match_terms = terms
        creator.match_score = len(terms)
        creator.match_reason = _reason(terms)


def _reason(terms: list[str]) -> str:
    return "found by the searches for " + ", ".join(f"'{t}'" for t in terms)


def _row(search: Search, record: CreatorRecord) -> dict[str, Any]:
    return {
        "org_id": search.org_id,
        "campaign_id": search.campaign_id,
        "search_id": search.id,
        "platform": record.platform,
        "platform_id": record.platform_id[:100],
        "handle": record.handle[:200],
        "display_name": record.display_name[:300],
        "profile_url": record.profile_url,
        "avatar_url": record.avatar_url,
        "followers": record.followers,
        "bio": record.bio,
        "emails": record.emails,
        "has_email": bool(record.emails),
        "links": record.links,
        "country": record.country,
        "engagement_rate": record.engagement_rate,
        "engagement_formula": record.engagement_formula,
        "content": record.content,
        "match_terms": record.terms,
        "match_score": len(record.terms),
        "match_reason": _reason(record.terms) if record.terms else "",
    }


# -- enrichment ------------------------------------------------------------------------------
def to_enrich(*, session: Session, search_id: uuid.UUID, limit: int) -> list[Creator]:
    """The search's creators not enriched yet, oldest first."""
    return list(
        session.scalars(
            select(Creator)
            .where(
                Creator.search_id == search_id,
                Creator.enriched_at.is_(None),
                Creator.enrich_error.is_(None),
            )
            .order_by(Creator.created_at, Creator.id)
            .limit(limit)
        )
    )


def apply_profile(creator: Creator, profile: CreatorRecord) -> None:
    """What the profile adds: bio, links, e-mails, followers, country."""
    creator.bio = profile.bio or creator.bio
    creator.links = profile.links or creator.links
    creator.emails = list(dict.fromkeys([*creator.emails, *profile.emails]))
    creator.has_email = bool(creator.emails)
    if profile.followers is not None:
        creator.followers = profile.followers
    creator.country = profile.country or creator.country
    creator.display_name = profile.display_name or creator.display_name
    creator.avatar_url = profile.avatar_url or creator.avatar_url
    creator.enriched_at = utcnow()


# -- results ---------------------------------------------------------------------------------
def _sort_key(sort: str) -> Any:
    if sort == "followers":
        return func.coalesce(Creator.followers, -1)
    if sort == "engagement":
        return func.coalesce(Creator.engagement_rate, -1)
    if sort == "relevance":
        return Creator.match_score
    return Creator.created_at


def filtered(campaign_id: uuid.UUID, filters: dict[str, Any]) -> Select[Creator]:
    query = select(Creator).where(Creator.campaign_id == campaign_id)
    conditions: dict[str, Callable[[Any], ColumnElement[bool]]] = {
        "platform": lambda v: Creator.platform == str(v),
        "search_id": lambda v: Creator.search_id == uuid.UUID(str(v)),
        "followers_min": lambda v: Creator.followers >= int(v),
        "followers_max": lambda v: Creator.followers <= int(v),
        "engagement_min": lambda v: Creator.engagement_rate >= Decimal(str(v)),
        "engagement_max": lambda v: Creator.engagement_rate <= Decimal(str(v)),
        "has_email": lambda v: Creator.has_email.is_(bool(v)),
        "engagement_formula": lambda v: Creator.engagement_formula == str(v),
    }
    for name, condition in conditions.items():
        if filters.get(name) is not None:
            query = query.where(condition(filters[name]))
    return query


def results(
    *,
    session: Session,
    campaign_id: uuid.UUID,
    filters: dict[str, Any],
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[Creator], str | None]:
    """One page of the campaign's creators, highest `sort` first, and the next page's cursor."""
    key = _sort_key(sort)
    query = filtered(campaign_id, filters)
    if cursor:
        value, after_id = _decode(cursor, sort)
        query = query.where(or_(key < value, and_(key == value, Creator.id < after_id)))
    rows = list(session.scalars(query.order_by(key.desc(), Creator.id.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], _encode(last, sort)


def _sort_value(creator: Creator, sort: str) -> Any:
    if sort == "followers":
        return creator.followers if creator.followers is not None else -1
    if sort == "engagement":
        rate = creator.engagement_rate
        return str(rate) if rate is not None else "-1"
    if sort == "relevance":
        return creator.match_score
    return creator.created_at.isoformat()


def _encode(creator: Creator, sort: str) -> str:
    raw = json.dumps([sort, _sort_value(creator, sort), str(creator.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, sort: str) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, value, row_id = json.loads(raw)
        if made_for != sort:
            raise ValueError("cursor of another order")
        if sort in ("followers", "relevance"):
            return int(value), uuid.UUID(row_id)
        if sort == "engagement":
            return Decimal(value), uuid.UUID(row_id)
        return datetime.fromisoformat(value), uuid.UUID(row_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, ArithmeticError):
        raise InvalidInput(
            "cursor is not valid", details={"fields": {"cursor": ["invalid"]}}
        ) from None


def export_rows(
    *, session: Session, campaign_id: uuid.UUID, filters: dict[str, Any], batch: int = 500
) -> Iterator[Creator]:
    """Every creator the filters keep, streamed in batches, oldest first."""
    query = filtered(campaign_id, filters).order_by(Creator.created_at, Creator.id)
    yield from session.scalars(query.execution_options(yield_per=batch))


# -- exclusions ------------------------------------------------------------------------------
def exclude(
    *, session: Session, org_id: uuid.UUID, platform: str, platform_id: str, reason: str
) -> None:
    """Add a creator to the organisation's exclusion list (again: the reason is updated)."""
    statement = insert(Exclusion).values(
        org_id=org_id, platform=platform, platform_id=platform_id, reason=reason
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["org_id", "platform", "platform_id"],
            set_={"reason": statement.excluded.reason},
        )
    )
