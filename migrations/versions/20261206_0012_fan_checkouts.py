"""fan checkouts: the Stripe checkouts Backline creates for a fan's paid subscription.

Reviewed by hand. A checkout is found by Stripe's id (the primary key) when its event comes
in and when the fan's page asks whether it cleared; by its subscription when Stripe ends
that (a partial unique index: one checkout per subscription, unset until paid); a fan's
other checkouts with the artist, when one subscription ends (by organisation and address);
and an artist's checkouts newest first.

Revision ID: 0012_fan_checkouts
Revises: 0011_leads
Create Date: 2026-12-06 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012_fan_checkouts"
down_revision: str | None = "0011_leads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fan_checkouts",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("paid", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("stripe_subscription_id", sa.String(255), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_fan_checkouts"),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name="fk_fan_checkouts_org_id_organizations",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_fan_checkouts_org_id", "fan_checkouts", ["org_id", "created_at"])
    op.create_index("ix_fan_checkouts_org_id_email", "fan_checkouts", ["org_id", "email"])
    op.create_index(
        "ix_fan_checkouts_stripe_subscription_id",
        "fan_checkouts",
        ["stripe_subscription_id"],
        unique=True,
        postgresql_where=sa.text("stripe_subscription_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("fan_checkouts")
