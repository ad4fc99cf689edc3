"""Revenue statements: a CSV statement of an artist's earnings over whole past months.

Reviewed by hand. A statement is read newest first per artist by keyset (the index on
org_id, created_at, id). The period is whole months in order (two checks). The lines are read
through the artist's uploads (ix_revenue_uploads_org_id) and revenue_earnings' primary key
(upload_id, row_number): no new index on the bulk-loaded earnings table, whose COPY rate
every extra index would slow.

Revision ID: 0013_revenue_statements
Revises: 0012_fan_checkouts
Create Date: 2026-12-06 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_revenue_statements"
down_revision: str | None = "0012_fan_checkouts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENT_STATUS = postgresql.ENUM(
    "queued", "ready", "failed", name="revenue_statement_status", create_type=False
)


def upgrade() -> None:
    STATEMENT_STATUS.create(op.get_bind())
    op.create_table(
        "revenue_statements",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("requested_by", sa.UUID(), nullable=True),
        sa.Column("first_month", sa.Date(), nullable=False),
        sa.Column("last_month", sa.Date(), nullable=False),
        sa.Column("status", STATEMENT_STATUS, server_default="queued", nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=True),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "first_month <= last_month", name=op.f("ck_revenue_statements_period_in_order")
        ),
        sa.CheckConstraint(
            "extract(day FROM first_month) = 1 AND extract(day FROM last_month) = 1",
            name=op.f("ck_revenue_statements_whole_months"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_revenue_statements_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_revenue_statements_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revenue_statements")),
    )
    op.create_index(
        "ix_revenue_statements_org_id",
        "revenue_statements",
        ["org_id", "created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_revenue_statements_org_id", table_name="revenue_statements")
    op.drop_table("revenue_statements")
    STATEMENT_STATUS.drop(op.get_bind())
