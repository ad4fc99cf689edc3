"""Periodic jobs: their schedules' last slots, and jobs that are the platform's own.

Reviewed by hand. periodic_schedules holds, per periodic job kind, the last slot a job was
created for; claiming a slot is an UPDATE that only moves it forward, which is what makes a
slot run once however many schedulers run. A periodic job belongs to no user nor
organisation: jobs.owner_id and jobs.org_id become nullable, and a check allows that for
internal jobs only. Existing rows all have both, so the check holds on them.
ALTER COLUMN ... DROP NOT NULL changes the catalogue only (no rewrite).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "periodic_schedules",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("last_slot_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_job_id", sa.UUID(), nullable=True),
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
        sa.ForeignKeyConstraint(
            ["last_job_id"],
            ["jobs.id"],
            name=op.f("fk_periodic_schedules_last_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_periodic_schedules")),
    )
    op.alter_column("jobs", "owner_id", existing_type=sa.UUID(), nullable=True)
    op.alter_column("jobs", "org_id", existing_type=sa.UUID(), nullable=True)
    # Added NOT VALID, then validated: the scan of existing rows then takes a lock that lets
    # reads and writes of jobs go on, rather than one that holds them for the whole scan.
    op.create_check_constraint(
        op.f("ck_jobs_owner"),
        "jobs",
        "(owner_id IS NOT NULL AND org_id IS NOT NULL) "
        "OR (owner_id IS NULL AND org_id IS NULL AND internal)",
        postgresql_not_valid=True,
    )
    op.execute("ALTER TABLE jobs VALIDATE CONSTRAINT ck_jobs_owner")


def downgrade() -> None:
    op.execute("DELETE FROM jobs WHERE owner_id IS NULL")
    op.drop_constraint(op.f("ck_jobs_owner"), "jobs", type_="check")
    op.alter_column("jobs", "org_id", existing_type=sa.UUID(), nullable=False)
    op.alter_column("jobs", "owner_id", existing_type=sa.UUID(), nullable=False)
    op.drop_table("periodic_schedules")
