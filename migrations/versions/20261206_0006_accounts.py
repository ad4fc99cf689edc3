"""accounts, finished: where logins came from, provider sign-ins and identities, deleted
accounts' tombstones, and the indexes leaving needs.

Reviewed by hand. A deleted account keeps its users row, naming no one (deleted_at set), so
the jobs its organisations keep still have an owner. Erasure looks up a user's jobs by owner
(with kind and recency, for the latest data export) and invitations by address and inviter;
none of these had an index.

Revision ID: 0006_accounts
Revises: 0005
Create Date: 2026-12-06 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_accounts"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("login_attempts", "auth_sessions"):
        op.add_column(table, sa.Column("country", sa.String(2), nullable=True))
        op.add_column(table, sa.Column("city", sa.String(100), nullable=True))
    op.add_column("auth_sessions", sa.Column("provider", sa.String(20), nullable=True))
    op.add_column("users", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_jobs_owner_kind_created",
        "jobs",
        ["owner_id", "kind", sa.text("created_at DESC")],
    )
    op.create_index("ix_invitations_email", "invitations", ["email"])
    op.create_index("ix_invitations_invited_by", "invitations", ["invited_by"])
    op.create_table(
        "provider_identities",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        # One account per subject at a provider: the identity is the subject, never the address.
        sa.UniqueConstraint("provider", "subject", name="uq_provider_identities_subject"),
    )
    op.create_index("ix_provider_identities_user_id", "provider_identities", ["user_id"])
    op.create_table(
        "provider_sign_ins",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("link_user_id", sa.UUID(), nullable=True),
        sa.Column("use_cookies", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["link_user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("state_hash"),
    )
    op.create_index("ix_provider_sign_ins_expires_at", "provider_sign_ins", ["expires_at"])
    op.create_index("ix_provider_sign_ins_link_user_id", "provider_sign_ins", ["link_user_id"])


def downgrade() -> None:
    op.drop_table("provider_sign_ins")
    op.drop_table("provider_identities")
    op.drop_index("ix_invitations_invited_by", table_name="invitations")
    op.drop_index("ix_invitations_email", table_name="invitations")
    op.drop_index("ix_jobs_owner_kind_created", table_name="jobs")
    op.drop_column("users", "deleted_at")
    op.drop_column("auth_sessions", "provider")
    for table in ("auth_sessions", "login_attempts"):
        op.drop_column(table, "city")
        op.drop_column(table, "country")
