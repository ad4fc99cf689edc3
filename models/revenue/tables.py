"""The revenue domain's tables: uploads, their earnings rows and rejected rows, the per-artist
rollups the wallet reads, balances, withdrawals and their audit trail.

The artist is the organisation: every row carries `org_id`. Money is NUMERIC, read and written
as `Decimal`, in the currency the distributor reported it in; nothing is ever converted.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, now_ts, timestamp, uuid_pk

# 12 decimal places (DistroKid reports to 8-12), 16 digits before the point.
MONEY = Numeric(28, 12)


class UploadStatus(enum.StrEnum):
    QUEUED = "queued"
    IMPORTED = "imported"
    FAILED = "failed"
    REVERTED = "reverted"


class StatementStatus(enum.StrEnum):
    QUEUED = "queued"
    READY = "ready"
    FAILED = "failed"


class WithdrawalStatus(enum.StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    PAID = "paid"

    @property
    def holds_funds(self) -> bool:
        """Whether the amount is taken out of the available balance."""
        return self is not WithdrawalStatus.REJECTED


UPLOAD_STATUS = Enum(
    UploadStatus, name="revenue_upload_status", values_callable=lambda e: [m.value for m in e]
)
STATEMENT_STATUS = Enum(
    StatementStatus,
    name="revenue_statement_status",
    values_callable=lambda e: [m.value for m in e],
)
WITHDRAWAL_STATUS = Enum(
    WithdrawalStatus,
    name="revenue_withdrawal_status",
    values_callable=lambda e: [m.value for m in e],
)


def _org() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )


class Upload(Base):
    __tablename__ = "revenue_uploads"
    __table_args__ = (
        Index("ix_revenue_uploads_org_id", "org_id", "created_at", "id"),
        # The same file twice for one artist is refused, unless the first was reverted (or
        # could not be read at all).
        Index(
            "uq_revenue_uploads_org_id_sha256",
            "org_id",
            "sha256",
            unique=True,
            postgresql_where=text("status NOT IN ('reverted', 'failed')"),
        ),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = _org()
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    filename: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(500))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[UploadStatus] = mapped_column(
        UPLOAD_STATUS, server_default=UploadStatus.QUEUED.value
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    format: Mapped[str | None] = mapped_column(String(40))
    rows_imported: Mapped[int] = mapped_column(Integer, server_default="0")
    rows_rejected: Mapped[int] = mapped_column(Integer, server_default="0")
    # Keys (store, month, ISRC, country) that other uploads of the artist already cover.
    overlapping_keys: Mapped[int] = mapped_column(Integer, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[now_ts]
    imported_at: Mapped[timestamp | None]
    reverted_at: Mapped[timestamp | None]
    reverted_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )


class Rejection(Base):
    """A row of an upload that was not imported, and why."""

    __tablename__ = "revenue_rejections"

    upload_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("revenue_uploads.id", ondelete="CASCADE"),
        primary_key=True,
    )
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(String(500))


class Earning(Base):
    """One line of a report, traceable to its upload and row number."""

    __tablename__ = "revenue_earnings"

    upload_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("revenue_uploads.id", ondelete="CASCADE"),
        primary_key=True,
    )
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))  # the upload's; no FK: bulk
    sale_month: Mapped[date] = mapped_column(Date)
    store: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))  # "" when the report has none
    isrc: Mapped[str] = mapped_column(String(12))  # "" on album rows
    upc: Mapped[str] = mapped_column(String(20))
    artist: Mapped[str] = mapped_column(String(500))
    title: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))


class Rollup(Base):
    """How many earnings rows each (currency, sale month, store, country, ISRC) of an artist
    holds, the key kept as a 64-bit hash (cheap to upsert by the hundred thousand); kept in
    the same transaction as every import and revert. An import adding to a key that already
    has rows covers what another upload covered: possible double counting."""

    __tablename__ = "revenue_rollups"

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    key_hash: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rows: Mapped[int] = mapped_column(Integer)


# The `sale_month` of a Total that covers all time.
ALL_TIME = date(1, 1, 1)


class Total(Base):
    """What the wallet reads: earnings per artist, dimension (store, country or track), month
    (or ALL_TIME) and key, per currency. A summary then reads a few thousand rows at most,
    however many earnings rows there are."""

    __tablename__ = "revenue_totals"
    __table_args__ = (
        # The wallet's top keys over all time, read in amount order.
        Index(
            "ix_revenue_totals_ranked",
            "org_id",
            "dimension",
            "sale_month",
            "currency",
            "amount",
            "key",
        ),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    dimension: Mapped[str] = mapped_column(String(10), primary_key=True)
    sale_month: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    quantity: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(Integer)


class Balance(Base):
    """What an artist earned and what withdrawals hold, per currency. A withdrawal takes its
    amount with one conditional UPDATE of this row, so two at once cannot both pass."""

    __tablename__ = "revenue_balances"
    __table_args__ = (CheckConstraint("held >= 0", name="held_not_negative"),)

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    earned: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    held: Mapped[Decimal] = mapped_column(MONEY, server_default="0")


class Withdrawal(Base):
    __tablename__ = "revenue_withdrawals"
    __table_args__ = (
        Index("ix_revenue_withdrawals_org_id", "org_id", "created_at", "id"),
        Index("ix_revenue_withdrawals_status", "status", "created_at"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = _org()
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    status: Mapped[WithdrawalStatus] = mapped_column(
        WITHDRAWAL_STATUS, server_default=WithdrawalStatus.REQUESTED.value
    )
    payout_method: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[now_ts]
    updated_at: Mapped[now_ts]


class WithdrawalEvent(Base):
    """The audit trail: every change to a withdrawal, by whom."""

    __tablename__ = "revenue_withdrawal_events"
    __table_args__ = (Index("ix_revenue_withdrawal_events_withdrawal_id", "withdrawal_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    withdrawal_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("revenue_withdrawals.id", ondelete="CASCADE")
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    status: Mapped[WithdrawalStatus] = mapped_column(WITHDRAWAL_STATUS)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[now_ts]


class PayoutMethod(Base):
    """Where an artist's withdrawals are paid (one on file per artist)."""

    __tablename__ = "revenue_payout_methods"

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # "paypal" or "bank"
    details: Mapped[str] = mapped_column(String(500))
    updated_at: Mapped[now_ts]


class Statement(Base):
    """A CSV statement of an artist's earnings over whole past months, written to storage by
    a `revenue.statement` job. The file is a snapshot: a later import or revert changes the
    next statement of the period, never this one."""

    __tablename__ = "revenue_statements"
    __table_args__ = (
        Index("ix_revenue_statements_org_id", "org_id", "created_at", "id"),
        CheckConstraint("first_month <= last_month", name="period_in_order"),
        CheckConstraint(
            "extract(day FROM first_month) = 1 AND extract(day FROM last_month) = 1",
            name="whole_months",
        ),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = _org()
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    first_month: Mapped[date] = mapped_column(Date)
    last_month: Mapped[date] = mapped_column(Date)
    status: Mapped[StatementStatus] = mapped_column(
        STATEMENT_STATUS, server_default=StatementStatus.QUEUED.value
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    storage_key: Mapped[str] = mapped_column(String(500))
    lines: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[now_ts]
    finished_at: Mapped[timestamp | None]
