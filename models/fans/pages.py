"""An artist's public page (its slug, name, bio and links) and the fans who sign up on it.

Sign-up is double opt-in: a sign-up is kept apart, with a mailed single-use token (only its
SHA-256 stored), and becomes a fan only when the address confirms. So an address typed in by
someone else never lands on the list, and the list counts confirmed fans only.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, select
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.accounts import User
from models.core.access import Role
from models.core.addresses import normalise_email
from models.core.base import Base, digest, now_ts, timestamp, utcnow, uuid_pk
from models.core.errors import Conflict, InvalidInput, NotFound
from models.fans.fans import Fan
from models.orgs import Membership

# The database's check (PostgreSQL's `$` is the end of the text); Python checks the same with
# fullmatch, since Python's `$` also matches before a final newline.
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{1,58})[a-z0-9]$"


class ArtistPage(Base):
    """One organisation's public page, found by its slug."""

    __tablename__ = "artist_pages"
    __table_args__ = (CheckConstraint(f"slug ~ '{SLUG_PATTERN}'", name="slug"),)

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    bio: Mapped[str] = mapped_column(Text, server_default="")
    links: Mapped[list[dict[str, str]]] = mapped_column(JSONB, server_default="[]")
    published: Mapped[bool] = mapped_column(server_default="true")
    created_at: Mapped[now_ts]
    updated_at: Mapped[now_ts]


class FanSignup(Base):
    """A sign-up on a public page, waiting for its address to confirm."""

    __tablename__ = "fan_signups"
    __table_args__ = (Index("ix_fan_signups_org_id_email", "org_id", "email"),)

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[timestamp]
    confirmed_at: Mapped[timestamp | None]
    created_at: Mapped[now_ts]


def save_page(*, session: Session, org_id: uuid.UUID, values: dict[str, Any]) -> ArtistPage:
    """Create or change the organisation's page; Conflict when another artist has the slug."""
    owner = session.scalar(select(ArtistPage.org_id).where(ArtistPage.slug == values["slug"]))
    if owner is not None and owner != org_id:
        raise Conflict("another artist has this address", details={"slug": values["slug"]})
    row = {**values, "org_id": org_id, "updated_at": utcnow()}
    session.execute(
        insert(ArtistPage).values(**row).on_conflict_do_update(index_elements=["org_id"], set_=row)
    )
    return page_of(session=session, org_id=org_id)


def page_of(*, session: Session, org_id: uuid.UUID) -> ArtistPage:
    page = session.scalar(
        select(ArtistPage)
        .where(ArtistPage.org_id == org_id)
        .execution_options(populate_existing=True)
    )
    if page is None:
        raise NotFound("this organization has no public page yet: PUT one")
    return page


def published_page(*, session: Session, slug: str) -> ArtistPage:
    """The published page at `slug`; NotFound for any other (or for what cannot be a slug)."""
    page = None
    if re.fullmatch(SLUG_PATTERN, slug):
        page = session.scalar(
            select(ArtistPage).where(ArtistPage.slug == slug, ArtistPage.published.is_(True))
        )
    if page is None:
        raise NotFound("no artist with this address", details={"slug": slug})
    return page


@dataclass(frozen=True)
class NewSignup:
    email: str
    token: str | None  # None: the address is on the list already, nothing to confirm


def sign_up(
    *, session: Session, org_id: uuid.UUID, values: dict[str, Any], ttl_s: int
) -> NewSignup:
    """Note a sign-up and the token its confirmation mail carries."""
    email = normalise_email(values["email"])
    if session.scalar(select(Fan.id).where(Fan.org_id == org_id, Fan.email == email)):
        return NewSignup(email, None)
    token = secrets.token_urlsafe(32)
    session.add(
        FanSignup(
            org_id=org_id,
            email=email,
            name=values.get("name"),
            country=values.get("country"),
            token_hash=digest(token),
            expires_at=utcnow() + timedelta(seconds=ttl_s),
        )
    )
    session.flush()
    return NewSignup(email, token)


def confirm_signup(*, session: Session, token: str) -> tuple[ArtistPage, str]:
    """Put the signed-up address on the artist's list (once); the artist's page and the
    confirmed address."""
    signup = session.scalar(
        select(FanSignup).where(FanSignup.token_hash == digest(token)).with_for_update()
    )
    if signup is None or signup.confirmed_at is not None or signup.expires_at <= utcnow():
        raise InvalidInput(
            "this confirmation is invalid, expired or already used",
            details={"fields": {"token": ["invalid"]}},
        )
    now = utcnow()
    signup.confirmed_at = now
    session.execute(
        insert(Fan)
        .values(
            org_id=signup.org_id,
            email=signup.email,
            name=signup.name,
            country=signup.country,
            source="landing_page",
            consent=True,
            consent_at=now,
        )
        .on_conflict_do_nothing(constraint="uq_fans_org_id_email")
    )
    return page_of(session=session, org_id=signup.org_id), signup.email


def page_owner(*, session: Session, org_id: uuid.UUID) -> User:
    """The organisation's first owner: the platform mails fans on their behalf."""
    owner = session.scalar(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == org_id, Membership.role == Role.OWNER)
        .order_by(Membership.created_at)
        .limit(1)
    )
    if owner is None:
        raise NotFound("no artist with this address")
    return owner


def page_summary(*, session: Session, org_id: uuid.UUID) -> dict[str, Any] | None:
    """The organisation's public page in brief, or None when it has none."""
    page = session.scalar(select(ArtistPage).where(ArtistPage.org_id == org_id))
    if page is None:
        return None
    return {
        "slug": page.slug,
        "name": page.name,
        "published": page.published,
        "bio": page.bio,
        "links": list(page.links),
    }
