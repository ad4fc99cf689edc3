"""webhook_events: signed callbacks received, each stored once and processed by a job;
billing: organisations' trials, Stripe checkouts and subscriptions.

Reviewed by hand. (source, message_id) is unique: the sender's retries and replays of a
captured request are recognised by the database, not by a check that two requests could
both pass. QStash's signed token id is unique as well where there is one (partial index).
The three (…, received_at, id) indexes serve the operators' list, newest first, whole or by
source or status.

organizations.trial_ends_at is added without a default (no rewrite; existing organisations
have had no trial), with a partial index for the periodic job that ends trials. A checkout's
and a subscription's tier can only be a paid one (CHECK). A Stripe subscription belongs to one
organisation (unique), and an organisation has one subscription row: the one it pays by.

Revision ID: 0008_webhooks
Revises: 0007_influencers
Create Date: 2026-12-06 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_webhooks"
down_revision: str | None = "0007_influencers"
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

    _billing()
    _outbound()


def _billing() -> None:
    op.add_column(
        "organizations", sa.Column("trial_ends_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_organizations_trial_ends_at",
        "organizations",
        ["trial_ends_at"],
        postgresql_where=sa.text("trial_ends_at IS NOT NULL"),
    )
    paid = "tier IN ('creator', 'professional')"
    op.create_table(
        "billing_checkouts",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("created_by", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("paid", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_billing_checkouts"),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name="fk_billing_checkouts_org_id_organizations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name="fk_billing_checkouts_created_by_users",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(paid, name="ck_billing_checkouts_paid_tier"),
    )
    op.create_index("ix_billing_checkouts_org_id", "billing_checkouts", ["org_id", "created_at"])
    op.create_table(
        "billing_subscriptions",
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("stripe_subscription_id", sa.String(255), nullable=False),
        sa.Column("stripe_customer_id", sa.String(255), nullable=True),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("org_id", name="pk_billing_subscriptions"),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name="fk_billing_subscriptions_org_id_organizations",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "stripe_subscription_id", name="uq_billing_subscriptions_stripe_subscription_id"
        ),
        sa.CheckConstraint(paid, name="ck_billing_subscriptions_paid_tier"),
    )


def _outbound() -> None:
    status = postgresql.ENUM(
        "pending", "delivered", "failed", name="webhook_delivery_status", create_type=False
    )
    status.create(op.get_bind(), checkfirst=False)
    op.create_table(
        "webhook_endpoints",
        sa.Column(
            "id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", postgresql.ARRAY(sa.String(100)), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("previous_secret", sa.String(100), nullable=True),
        sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoints"),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name="fk_webhook_endpoints_org_id_organizations",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_webhook_endpoints_org_id", "webhook_endpoints", ["org_id", "created_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column(
            "id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("endpoint_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("msg_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("status", status, server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_duration_ms", sa.Integer(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name="fk_webhook_deliveries_endpoint_id_webhook_endpoints",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("msg_id", name="uq_webhook_deliveries_msg_id"),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_id", "webhook_deliveries", ["endpoint_id", "created_at"]
    )
    op.create_table(
        "webhook_attempts",
        sa.Column(
            "id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("delivery_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name="fk_webhook_attempts_delivery_id_webhook_deliveries",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id", "attempt"]
    )
    op.create_table(
        "webhook_job_feeds",
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("cursor", sa.String(64), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("org_id", name="pk_webhook_job_feeds"),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name="fk_webhook_job_feeds_org_id_organizations",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("webhook_job_feeds")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
    op.execute("DROP TYPE webhook_delivery_status")
    op.drop_table("billing_subscriptions")
    op.drop_table("billing_checkouts")
    op.drop_index("ix_organizations_trial_ends_at", table_name="organizations")
    op.drop_column("organizations", "trial_ends_at")
    op.drop_table("webhook_events")
    WEBHOOK_STATUS.drop(op.get_bind(), checkfirst=False)
