"""Revenue: uploads of distributor reports, their earnings rows and rejected rows, the
per-artist rollups and balances the wallet reads, withdrawals, their audit trail, payout methods.

Reviewed by hand.
- Money is NUMERIC(28, 12): reports carry 8-12 decimal places; nothing is a float.
- revenue_earnings is keyed (upload_id, row_number): every figure traces back to the line of
  the file it came from, and a revert deletes by that key's prefix. It has no foreign key to
  the organisation (its upload has) and no other index, so COPY stays near its raw rate.
- revenue_rollups counts rows per (currency, month, store, country, ISRC), the key kept as
  a 64-bit hash (hashtextextended), and tells an import which keys another upload already
  covered; revenue_totals (per dimension - store, country, track - and
  month, plus an all-time row dated 0001-01-01) is what the wallet reads, by its primary key's
  prefix (org_id, dimension, sale_month), so a summary reads thousands of rows, not millions;
  ix_revenue_totals_ranked gives the all-time top keys per currency in amount order.
- One file per artist: a partial unique index on (org_id, sha256) over uploads that are not
  reverted or failed; the API answers 409 naming the earlier upload.
- revenue_balances.held >= 0; withdrawals take money with a conditional UPDATE of that row.

Revision ID: 0010_revenue
Revises: 0009_fans
Create Date: 2026-12-06 19:48:24.486897
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_revenue"
down_revision: str | None = "0009_fans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPLOAD_STATUS = postgresql.ENUM(
    "queued", "imported", "failed", "reverted", name="revenue_upload_status", create_type=False
)
WITHDRAWAL_STATUS = postgresql.ENUM(
    "requested", "approved", "rejected", "paid", name="revenue_withdrawal_status", create_type=False
)


def upgrade() -> None:
    UPLOAD_STATUS.create(op.get_bind())
    WITHDRAWAL_STATUS.create(op.get_bind())
    op.create_table(
        "revenue_balances",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("earned", sa.Numeric(precision=28, scale=12), server_default="0", nullable=False),
        sa.Column("held", sa.Numeric(precision=28, scale=12), server_default="0", nullable=False),
        sa.CheckConstraint("held >= 0", name=op.f("ck_revenue_balances_held_not_negative")),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_revenue_balances_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "currency", name=op.f("pk_revenue_balances")),
    )
    op.create_table(
        "revenue_payout_methods",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("details", sa.String(length=500), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_revenue_payout_methods_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_revenue_payout_methods")),
    )
    op.create_table(
        "revenue_rollups",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("key_hash", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_revenue_rollups_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "key_hash", name=op.f("pk_revenue_rollups")),
    )
    op.create_table(
        "revenue_totals",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("dimension", sa.String(length=10), nullable=False),
        sa.Column("sale_month", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("amount", sa.Numeric(precision=28, scale=12), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_revenue_totals_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "org_id", "dimension", "sale_month", "currency", "key", name=op.f("pk_revenue_totals")
        ),
    )
    op.create_index(
        "ix_revenue_totals_ranked",
        "revenue_totals",
        ["org_id", "dimension", "sale_month", "currency", "amount", "key"],
        unique=False,
    )
    op.create_table(
        "revenue_uploads",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("uploaded_by", sa.UUID(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", UPLOAD_STATUS, server_default="queued", nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=True),
        sa.Column("format", sa.String(length=40), nullable=True),
        sa.Column("rows_imported", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_rejected", sa.Integer(), server_default="0", nullable=False),
        sa.Column("overlapping_keys", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reverted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reverted_by", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_revenue_uploads_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reverted_by"],
            ["users.id"],
            name=op.f("fk_revenue_uploads_reverted_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["users.id"],
            name=op.f("fk_revenue_uploads_uploaded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revenue_uploads")),
    )
    op.create_index(
        "ix_revenue_uploads_org_id", "revenue_uploads", ["org_id", "created_at", "id"], unique=False
    )
    op.create_index(
        "uq_revenue_uploads_org_id_sha256",
        "revenue_uploads",
        ["org_id", "sha256"],
        unique=True,
        postgresql_where=sa.text("status NOT IN ('reverted', 'failed')"),
    )
    op.create_table(
        "revenue_withdrawals",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("requested_by", sa.UUID(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.Numeric(precision=28, scale=12), nullable=False),
        sa.Column("status", WITHDRAWAL_STATUS, server_default="requested", nullable=False),
        sa.Column("payout_method", sa.String(length=500), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_revenue_withdrawals_amount_positive")),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_revenue_withdrawals_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_revenue_withdrawals_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revenue_withdrawals")),
    )
    op.create_index(
        "ix_revenue_withdrawals_org_id",
        "revenue_withdrawals",
        ["org_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_revenue_withdrawals_status",
        "revenue_withdrawals",
        ["status", "created_at"],
        unique=False,
    )
    op.create_table(
        "revenue_earnings",
        sa.Column("upload_id", sa.UUID(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("sale_month", sa.Date(), nullable=False),
        sa.Column("store", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("isrc", sa.String(length=12), nullable=False),
        sa.Column("upc", sa.String(length=20), nullable=False),
        sa.Column("artist", sa.String(length=500), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=28, scale=12), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["revenue_uploads.id"],
            name=op.f("fk_revenue_earnings_upload_id_revenue_uploads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("upload_id", "row_number", name=op.f("pk_revenue_earnings")),
    )
    op.create_table(
        "revenue_rejections",
        sa.Column("upload_id", sa.UUID(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["revenue_uploads.id"],
            name=op.f("fk_revenue_rejections_upload_id_revenue_uploads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("upload_id", "row_number", name=op.f("pk_revenue_rejections")),
    )
    op.create_table(
        "revenue_withdrawal_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("withdrawal_id", sa.UUID(), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("status", WITHDRAWAL_STATUS, nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_revenue_withdrawal_events_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["withdrawal_id"],
            ["revenue_withdrawals.id"],
            name=op.f("fk_revenue_withdrawal_events_withdrawal_id_revenue_withdrawals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revenue_withdrawal_events")),
    )
    op.create_index(
        "ix_revenue_withdrawal_events_withdrawal_id",
        "revenue_withdrawal_events",
        ["withdrawal_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_revenue_withdrawal_events_withdrawal_id", table_name="revenue_withdrawal_events"
    )
    op.drop_table("revenue_withdrawal_events")
    op.drop_table("revenue_rejections")
    op.drop_table("revenue_earnings")
    op.drop_index("ix_revenue_withdrawals_status", table_name="revenue_withdrawals")
    op.drop_index("ix_revenue_withdrawals_org_id", table_name="revenue_withdrawals")
    op.drop_table("revenue_withdrawals")
    op.drop_index(
        "uq_revenue_uploads_org_id_sha256",
        table_name="revenue_uploads",
        postgresql_where=sa.text("status NOT IN ('reverted', 'failed')"),
    )
    op.drop_index("ix_revenue_uploads_org_id", table_name="revenue_uploads")
    op.drop_table("revenue_uploads")
    op.drop_index("ix_revenue_totals_ranked", table_name="revenue_totals")
    op.drop_table("revenue_totals")
    op.drop_table("revenue_rollups")
    op.drop_table("revenue_payout_methods")
    op.drop_table("revenue_balances")
    WITHDRAWAL_STATUS.drop(op.get_bind())
    UPLOAD_STATUS.drop(op.get_bind())
