"""assistant: the conversation, its replies' pieces as they were written, onboarding's answers.

Reviewed by hand. History is read per organisation newest first: the (org_id, created_at, id)
index answers it. A reply's pieces are keyed by (message_id, seq): the stream reads those past
a number, in order, from that key; they go with their message (ON DELETE CASCADE). A message
keeps its asker's id until their account is erased (the eraser deletes their messages).

Revision ID: 0016_assistant
Revises: 0015_mail
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016_assistant"
down_revision: str | None = "0015_mail"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at(name: str = "created_at") -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "assistant_messages",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("content", sa.Text(), server_default="", nullable=False),
        sa.Column("html", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reply_to", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("job_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column(
            "meta", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        _created_at(),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_assistant_messages"),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            ondelete="CASCADE",
            name="fk_assistant_messages_org_id_organizations",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            ondelete="SET NULL",
            name="fk_assistant_messages_user_id_users",
        ),
        sa.CheckConstraint("role IN ('user', 'assistant')", name="ck_assistant_messages_role"),
        sa.CheckConstraint(
            "status IN ('pending', 'streaming', 'complete', 'fallback')",
            name="ck_assistant_messages_status",
        ),
    )
    op.create_index(
        "ix_assistant_messages_org_id_created_at",
        "assistant_messages",
        ["org_id", "created_at", "id"],
    )
    op.create_table(
        "assistant_chunks",
        sa.Column("message_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column("data", postgresql.JSONB(), nullable=True),
        sa.PrimaryKeyConstraint("message_id", "seq", name="pk_assistant_chunks"),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["assistant_messages.id"],
            ondelete="CASCADE",
            name="fk_assistant_chunks_message_id_assistant_messages",
        ),
    )
    op.create_table(
        "assistant_profiles",
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("step", sa.String(20), nullable=False),
        sa.Column(
            "answers", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        _created_at("started_at"),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        _created_at("updated_at"),
        sa.PrimaryKeyConstraint("org_id", name="pk_assistant_profiles"),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            ondelete="CASCADE",
            name="fk_assistant_profiles_org_id_organizations",
        ),
    )


def downgrade() -> None:
    op.drop_table("assistant_profiles")
    op.drop_table("assistant_chunks")
    op.drop_index("ix_assistant_messages_org_id_created_at", table_name="assistant_messages")
    op.drop_table("assistant_messages")
