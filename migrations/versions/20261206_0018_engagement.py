"""engagement: metric points (append-only), their hourly and daily rollups, a data version.

Reviewed by hand. Points are never updated: the dashboard reads the rollups, which the write
upserts in the same transaction, so their primary key (org, grain, bucket, metric, platform)
is also the dashboard's range scan. Points are listed by organisation, newest first (org,
id), and found by live session (a partial index: most points belong to none); the session
id has no foreign key, the live domain's sessions being its own. The version row per
organisation is bumped by every write and is part of the dashboard cache's key.

Revision ID: 0018_engagement
Revises: 0017_notifications
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018_engagement"
down_revision: str | None = "0017_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id"],
        ["organizations.id"],
        ondelete="CASCADE",
        name=f"fk_{table}_org_id_organizations",
    )


def upgrade() -> None:
    op.create_table(
        "engagement_points",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("value", sa.Numeric(20, 6), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("live_session_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_engagement_points"),
        _org_fk("engagement_points"),
    )
    op.create_index("ix_engagement_points_org_id", "engagement_points", ["org_id", "id"])
    op.create_index(
        "ix_engagement_points_live_session",
        "engagement_points",
        ["org_id", "live_session_id"],
        postgresql_where=sa.text("live_session_id IS NOT NULL"),
    )
    op.create_table(
        "engagement_rollups",
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("grain", sa.String(4), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("sum", sa.Numeric(), nullable=False),
        sa.Column("min", sa.Numeric(20, 6), nullable=False),
        sa.Column("max", sa.Numeric(20, 6), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_value", sa.Numeric(20, 6), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id", "grain", "bucket", "metric", "platform", name="pk_engagement_rollups"
        ),
        sa.CheckConstraint("grain IN ('hour', 'day')", name="ck_engagement_rollups_grain"),
        _org_fk("engagement_rollups"),
    )
    op.create_table(
        "engagement_versions",
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", name="pk_engagement_versions"),
        _org_fk("engagement_versions"),
    )


def downgrade() -> None:
    op.drop_table("engagement_versions")
    op.drop_table("engagement_rollups")
    op.drop_index("ix_engagement_points_live_session", table_name="engagement_points")
    op.drop_index("ix_engagement_points_org_id", table_name="engagement_points")
    op.drop_table("engagement_points")
