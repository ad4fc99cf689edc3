"""Operations: the operators' audit log, paused queues, and indexes for the ops figures.

Reviewed by hand. ops_audit keeps an action when its operator's account is deleted (the link
is set to NULL). ix_jobs_status_queue serves the per-queue counts; the partial index on
finished_at serves throughput and latency over the last hour.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_audit",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_ops_audit_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_audit")),
    )
    op.create_table(
        "queue_pauses",
        sa.Column("queue", sa.String(length=100), nullable=False),
        sa.Column("paused_by", sa.UUID(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column(
            "paused_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["paused_by"],
            ["users.id"],
            name=op.f("fk_queue_pauses_paused_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("queue", name=op.f("pk_queue_pauses")),
    )
    op.create_index("ix_jobs_status_queue", "jobs", ["status", "queue"], unique=False)
    op.create_index(
        "ix_jobs_finished_at",
        "jobs",
        ["finished_at"],
        unique=False,
        postgresql_where=sa.text("finished_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_jobs_finished_at",
        table_name="jobs",
        postgresql_where=sa.text("finished_at IS NOT NULL"),
    )
    op.drop_index("ix_jobs_status_queue", table_name="jobs")
    op.drop_table("queue_pauses")
    op.drop_table("ops_audit")
