"""accounts, finished: deleted accounts' tombstones and the indexes leaving needs.

Reviewed by hand. A deleted account keeps its users row, naming no one (deleted_at set), so
the jobs its organisations keep still have an owner. Erasure looks up a user's jobs by owner
(with kind and recency, for the latest data export) and invitations by address and inviter;
none of these had an index.

Revision ID: 0024_accounts
Revises: 0005
Create Date: 2026-12-06 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_accounts"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_jobs_owner_kind_created",
        "jobs",
        ["owner_id", "kind", sa.text("created_at DESC")],
    )
    op.create_index("ix_invitations_email", "invitations", ["email"])
    op.create_index("ix_invitations_invited_by", "invitations", ["invited_by"])


def downgrade() -> None:
    op.drop_index("ix_invitations_invited_by", table_name="invitations")
    op.drop_index("ix_invitations_email", table_name="invitations")
    op.drop_index("ix_jobs_owner_kind_created", table_name="jobs")
    op.drop_column("users", "deleted_at")
