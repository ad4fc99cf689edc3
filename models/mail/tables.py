"""The mail domain's tables: campaigns, sequences (steps, enrolments), the send ledger and the
suppression list.

`mail_sends` is the ledger: one row per (campaign, recipient) or (sequence step, enrolment),
made `pending` when the audience is fixed and turned `sent` in the transaction that holds the
row's lock while the provider takes the message. A batch run twice finds the row sent and
passes it by; a crash before the commit leaves it pending, to be sent again (the one instant
where a mail may go twice, documented in docs/mail.md).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, now_ts, uuid_pk


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FINISHED = "finished"


class SendStatus(enum.StrEnum):
    PENDING = "pending"  # not yet taken by the provider
    SENT = "sent"  # the provider accepted it (the ledger entry)
    FAILED = "failed"  # finally refused or given up: `reason` says why
    SKIPPED = "skipped"  # not sent on purpose (suppressed, invalid address): `reason`
    CANCELLED = "cancelled"  # its campaign was cancelled before it went


class Trigger(enum.StrEnum):
    MANUAL = "manual"
    TRIAL_STARTED = "trial_started"
    FAN_CONFIRMED = "fan_confirmed"
    LEAD_CREATED = "lead_created"


class EnrolmentStatus(enum.StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    EXITED = "exited"


def _checked(column: str, values: type[enum.StrEnum]) -> CheckConstraint:
    listed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=column)


def _org_fk(nullable: bool = False) -> Mapped[Any]:
    return mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=nullable,
    )


def _user_fk() -> Mapped[uuid.UUID | None]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))


class Campaign(Base):
    """One mail to an audience, sent once to each of its recipients."""

    __tablename__ = "mail_campaigns"
    __table_args__ = (
        _checked("status", CampaignStatus),
        Index("ix_mail_campaigns_org_id", "org_id", "created_at", "id"),
        Index("ix_mail_campaigns_status", "status"),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = _org_fk()
    created_by: Mapped[uuid.UUID | None] = _user_fk()
    name: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    from_name: Mapped[str] = mapped_column(String(100))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    audience: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), server_default=CampaignStatus.DRAFT.value)
    send_at: Mapped[datetime | None]
    total: Mapped[int] = mapped_column(Integer, server_default="0")
    # Each start or resume is a run: its batch jobs' idempotency keys carry the number.
    run: Mapped[int] = mapped_column(Integer, server_default="0")
    job_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), server_default="{}")
    # Why it stopped when nobody asked (the provider refused the deployment's account).
    note: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_at: Mapped[now_ts]
    updated_at: Mapped[now_ts] = mapped_column(onupdate=func.now())


class Sequence(Base):
    """Mails sent one after the other to each enrolled recipient, each after its delay.

    `org_id` None: the platform's own (the trial mails to new organisations' owners)."""

    __tablename__ = "mail_sequences"
    __table_args__ = (
        _checked("trigger", Trigger),
        UniqueConstraint("key", name="uq_mail_sequences_key"),
        Index("ix_mail_sequences_org_id", "org_id", "trigger"),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID | None] = _org_fk(nullable=True)
    key: Mapped[str | None] = mapped_column(String(50))  # the platform's, by name ("trial")
    created_by: Mapped[uuid.UUID | None] = _user_fk()
    name: Mapped[str] = mapped_column(Text)
    trigger: Mapped[str] = mapped_column(String(20))
    from_name: Mapped[str] = mapped_column(String(100))
    exit_on: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    active: Mapped[bool] = mapped_column(server_default="true")
    created_at: Mapped[now_ts]


class Step(Base):
    """One mail of a sequence, `delay_s` after the one before (or after enrolment)."""

    __tablename__ = "mail_sequence_steps"
    __table_args__ = (
        UniqueConstraint("sequence_id", "position", name="uq_mail_sequence_steps_position"),
    )

    id: Mapped[uuid_pk]
    sequence_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("mail_sequences.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(Integer)
    delay_s: Mapped[int] = mapped_column(BigInteger)
    subject: Mapped[str] = mapped_column(Text)
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)


class Enrolment(Base):
    """A recipient on their way through a sequence: the next step and when it is due."""

    __tablename__ = "mail_enrolments"
    __table_args__ = (
        _checked("status", EnrolmentStatus),
        UniqueConstraint("sequence_id", "email", name="uq_mail_enrolments_sequence_email"),
        Index(
            "ix_mail_enrolments_due",
            "next_due_at",
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[uuid_pk]
    sequence_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("mail_sequences.id", ondelete="CASCADE"), nullable=False
    )
    org_id: Mapped[uuid.UUID] = _org_fk()
    email: Mapped[str] = mapped_column(String(320))
    recipient: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the template's fields
    status: Mapped[str] = mapped_column(String(20), server_default=EnrolmentStatus.ACTIVE.value)
    exit_reason: Mapped[str | None] = mapped_column(Text)
    next_position: Mapped[int] = mapped_column(Integer, server_default="0")
    next_due_at: Mapped[datetime | None]
    enrolled_at: Mapped[now_ts]
    updated_at: Mapped[now_ts] = mapped_column(onupdate=func.now())


class Send(Base):
    """One mail to one recipient: the send ledger, and what became of the mail."""

    __tablename__ = "mail_sends"
    __table_args__ = (
        _checked("status", SendStatus),
        CheckConstraint(
            "(campaign_id IS NOT NULL) <> (step_id IS NOT NULL)", name="campaign_or_step"
        ),
        Index(
            "uq_mail_sends_campaign_email",
            "campaign_id",
            "email",
            unique=True,
            postgresql_where=text("campaign_id IS NOT NULL"),
        ),
        Index(
            "uq_mail_sends_step_enrolment",
            "step_id",
            "enrolment_id",
            unique=True,
            postgresql_where=text("step_id IS NOT NULL"),
        ),
        Index(
            "ix_mail_sends_pending",
            "campaign_id",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_mail_sends_message_id", "message_id"),
        Index("ix_mail_sends_provider_id", "provider_id"),
        Index("ix_mail_sends_org_email", "org_id", "email"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    org_id: Mapped[uuid.UUID] = _org_fk()
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("mail_campaigns.id", ondelete="CASCADE")
    )
    step_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("mail_sequence_steps.id", ondelete="CASCADE")
    )
    enrolment_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("mail_enrolments.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(String(320))
    recipient: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the template's fields
    status: Mapped[str] = mapped_column(String(20), server_default=SendStatus.PENDING.value)
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    clicked_at: Mapped[datetime | None]
    bounced_at: Mapped[datetime | None]
    complained_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    created_at: Mapped[now_ts]


class SuppressionReason(enum.StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"


class Suppression(Base):
    """An address the organisation no longer mails, and why."""

    __tablename__ = "mail_suppressions"
    __table_args__ = (_checked("reason", SuppressionReason),)

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[now_ts]
