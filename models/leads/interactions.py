"""A lead's timeline: notes, calls, e-mails, meetings and follow-ups, written by members."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    select,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.core.base import Base, now_ts, utcnow

KINDS = ("note", "call", "email", "meeting", "follow_up")


class Interaction(Base):
    __tablename__ = "lead_interactions"
    __table_args__ = (
        CheckConstraint("kind IN ('note', 'call', 'email', 'meeting', 'follow_up')", name="kind"),
        Index("ix_lead_interactions_lead_id", "lead_id", "happened_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("leads.id", ondelete="CASCADE"), nullable=False
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    happened_at: Mapped[datetime]
    created_at: Mapped[now_ts]


def add_interaction(
    *,
    session: Session,
    lead_id: uuid.UUID,
    actor_id: uuid.UUID,
    kind: str,
    body: str,
    happened_at: datetime | None,
) -> Interaction:
    """Add to the lead's timeline (the caller has checked the lead is the organisation's)."""
    entry = Interaction(
        lead_id=lead_id,
        actor_id=actor_id,
        kind=kind,
        body=body,
        happened_at=happened_at or utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry


def timeline_of(*, session: Session, lead_id: uuid.UUID) -> list[Interaction]:
    """The lead's interactions, most recent first."""
    return list(
        session.scalars(
            select(Interaction)
            .where(Interaction.lead_id == lead_id)
            .order_by(Interaction.happened_at.desc(), Interaction.id.desc())
        )
    )
