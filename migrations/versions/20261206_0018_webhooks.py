"""webhook_events: signed callbacks received, each stored once and processed by a job.

Reviewed by hand. (source, message_id) is unique: the sender's retries and replays of a
captured request are recognised by the database, not by a check that two requests could
both pass. QStash's signed token id is unique as well where there is one (partial index).
The three (…, received_at, id) indexes serve the operators' list, newest first, whole or by
source or status.

Revision ID: 0018_webhooks
Revises: 0005
Create Date: 2026-12-06 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018_webhooks"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WEBHOOK_STATUS = postgresql.ENUM(
    "received", "processed", "ignored", "failed", name="webhook_status", create_type=False
)


def upgrade() -> None:
    WEBHOOK_STATUS.create(op.get_bind(), checkfirst=False)
    op.create_table(
        "webhook_events",
        sa.Column(
            "id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("token_id", sa.String(200), nullable=True),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", WEBHOOK_STATUS, server_default="received", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("job_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_events"),
    )
    op.create_index(
        "uq_webhook_events_message", "webhook_events", ["source", "message_id"], unique=True
    )
    op.create_index(
        "uq_webhook_events_token",
        "webhook_events",
        ["source", "token_id"],
        unique=True,
        postgresql_where=sa.text("token_id IS NOT NULL"),
    )
    op.create_index("ix_webhook_events_received", "webhook_events", ["received_at", "id"])
    op.create_index(
        "ix_webhook_events_source_received", "webhook_events", ["source", "received_at", "id"]
    )
    op.create_index(
        "ix_webhook_events_status_received", "webhook_events", ["status", "received_at", "id"]
    )


def downgrade() -> None:
    op.drop_table("webhook_events")
    WEBHOOK_STATUS.drop(op.get_bind(), checkfirst=False)
