"""notifications: what changed for an organisation, written daily, read by each member.

Reviewed by hand. A notification's key (organisation, kind, subject, period) is unique, so a
daily run repeated or late writes nothing twice; the list per organisation reads the
(org_id, created_at, id) index newest first. Readings are per member (primary key
(notification_id, user_id)); the user_id index serves the unread count's join and the
eraser. The marks are each organisation's high-water mark of the daily run.

Revision ID: 0017_notifications
Revises: 0016_assistant
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017_notifications"
down_revision: str | None = "0016_assistant"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = (
    "'import_landed', 'release_approved', 'release_rejected', 'withdrawal_paid', 'fan_milestone'"
)


def _now() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column(
            "id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("phrased_by", sa.String(100), server_default="template", nullable=False),
        sa.Column(
            "facts", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("happened_at", sa.DateTime(timezone=True), nullable=False),
        _now(),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            ondelete="CASCADE",
            name="fk_notifications_org_id_organizations",
        ),
        sa.CheckConstraint(f"kind IN ({KINDS})", name="ck_notifications_kind"),
        sa.UniqueConstraint("org_id", "kind", "subject", "period", name="uq_notifications_key"),
    )
    op.create_index(
        "ix_notifications_org_id_created_at", "notifications", ["org_id", "created_at", "id"]
    )
    op.create_table(
        "notification_reads",
        sa.Column("notification_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column(
            "read_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("notification_id", "user_id", name="pk_notification_reads"),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            ondelete="CASCADE",
            name="fk_notification_reads_notification_id_notifications",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            ondelete="CASCADE",
            name="fk_notification_reads_user_id_users",
        ),
    )
    op.create_index("ix_notification_reads_user_id", "notification_reads", ["user_id"])
    op.create_table(
        "notification_marks",
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("read_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("org_id", name="pk_notification_marks"),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            ondelete="CASCADE",
            name="fk_notification_marks_org_id_organizations",
        ),
    )


def downgrade() -> None:
    op.drop_table("notification_marks")
    op.drop_index("ix_notification_reads_user_id", table_name="notification_reads")
    op.drop_table("notification_reads")
    op.drop_index("ix_notifications_org_id_created_at", table_name="notifications")
    op.drop_table("notifications")
