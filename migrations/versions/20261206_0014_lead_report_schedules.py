"""lead report schedules: an organisation's report weekly or monthly, mailed when ready.

Reviewed by hand. One schedule per (organisation, frequency, format): the unique constraint
keeps a double submit from scheduling the same report twice. The periodic job looks for the
schedules of a frequency not yet submitted for the current period: the (frequency,
last_period) index answers it; the list per organisation uses the unique constraint's index.
A report made for a schedule names it, so the finished job knows to mail the requester.

Revision ID: 0014_lead_report_schedules
Revises: 0013_revenue_statements
Create Date: 2026-12-06 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_lead_report_schedules"
down_revision: str | None = "0013_revenue_statements"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lead_report_schedules",
        sa.Column(
            "id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("created_by", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("frequency", sa.String(10), nullable=False),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("last_period", sa.Date(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_lead_report_schedules"),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            ondelete="CASCADE",
            name="fk_lead_report_schedules_org_id_organizations",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            ondelete="SET NULL",
            name="fk_lead_report_schedules_created_by_users",
        ),
        sa.CheckConstraint("format IN ('csv', 'xlsx')", name="ck_lead_report_schedules_format"),
        sa.CheckConstraint(
            "frequency IN ('weekly', 'monthly')", name="ck_lead_report_schedules_frequency"
        ),
        sa.UniqueConstraint("org_id", "frequency", "format", name="uq_lead_report_schedules_kind"),
    )
    op.create_index(
        "ix_lead_report_schedules_due", "lead_report_schedules", ["frequency", "last_period"]
    )
    op.add_column(
        "lead_reports", sa.Column("schedule_id", postgresql.UUID(as_uuid=True), nullable=True)
    )
    op.create_foreign_key(
        "fk_lead_reports_schedule_id_lead_report_schedules",
        "lead_reports",
        "lead_report_schedules",
        ["schedule_id"],
        ["id"],
        ondelete="SET NULL",
    )
    # A schedule's deletion sets its reports' schedule_id to NULL: an index keeps that fast.
    op.create_index(
        "ix_lead_reports_schedule_id",
        "lead_reports",
        ["schedule_id"],
        postgresql_where=sa.text("schedule_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_lead_reports_schedule_id", table_name="lead_reports")
    op.drop_constraint(
        "fk_lead_reports_schedule_id_lead_report_schedules", "lead_reports", type_="foreignkey"
    )
    op.drop_column("lead_reports", "schedule_id")
    op.drop_index("ix_lead_report_schedules_due", table_name="lead_report_schedules")
    op.drop_table("lead_report_schedules")
