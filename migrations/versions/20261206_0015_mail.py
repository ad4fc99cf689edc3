"""mail: campaigns, sequences (steps, enrolments), the send ledger, the suppression list.

Reviewed by hand. `mail_sends` is the ledger: one row per (campaign, address) or (step,
enrolment), both unique (partial indexes, as a row has one or the other, which a check
says). The senders take pending rows of a campaign in id order through the partial index on
pending rows; webhook events find their row by Message-ID or the provider's id. Enrolments
due are found through a partial index on active ones. A platform sequence (the trial's) has
no organisation and is found by its unique key.

Revision ID: 0015_mail
Revises: 0014_lead_report_schedules
Create Date: 2026-12-06 22:45:47.820879
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015_mail"
down_revision: str | None = "0014_lead_report_schedules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_campaigns",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("from_name", sa.String(length=100), nullable=False),
        sa.Column("reply_to", sa.String(length=320), nullable=True),
        sa.Column("audience", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="draft", nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("run", sa.Integer(), server_default="0", nullable=False),
        sa.Column("job_ids", postgresql.ARRAY(sa.UUID()), server_default="{}", nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint(
            "status IN ('draft', 'scheduled', 'sending', 'paused', 'cancelled', 'finished')",
            name=op.f("ck_mail_campaigns_status"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_mail_campaigns_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_mail_campaigns_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_campaigns")),
    )
    op.create_index(
        "ix_mail_campaigns_org_id", "mail_campaigns", ["org_id", "created_at", "id"], unique=False
    )
    op.create_index("ix_mail_campaigns_status", "mail_campaigns", ["status"], unique=False)
    op.create_table(
        "mail_sequences",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=True),
        sa.Column("key", sa.String(length=50), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("from_name", sa.String(length=100), nullable=False),
        sa.Column(
            "exit_on",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "trigger IN ('manual', 'trial_started', 'fan_confirmed', 'lead_created')",
            name=op.f("ck_mail_sequences_trigger"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_mail_sequences_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_mail_sequences_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_sequences")),
        sa.UniqueConstraint("key", name="uq_mail_sequences_key"),
    )
    op.create_index(
        "ix_mail_sequences_org_id", "mail_sequences", ["org_id", "trigger"], unique=False
    )
    op.create_table(
        "mail_suppressions",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "reason IN ('unsubscribed', 'hard_bounce', 'complaint')",
            name=op.f("ck_mail_suppressions_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_mail_suppressions_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "email", name=op.f("pk_mail_suppressions")),
    )
    op.create_table(
        "mail_enrolments",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("sequence_id", sa.UUID(), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("recipient", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="active", nullable=False),
        sa.Column("exit_reason", sa.Text(), nullable=True),
        sa.Column("next_position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "enrolled_at",
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
        sa.CheckConstraint(
            "status IN ('active', 'completed', 'exited')", name=op.f("ck_mail_enrolments_status")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_mail_enrolments_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["mail_sequences.id"],
            name=op.f("fk_mail_enrolments_sequence_id_mail_sequences"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_enrolments")),
        sa.UniqueConstraint("sequence_id", "email", name="uq_mail_enrolments_sequence_email"),
    )
    op.create_index(
        "ix_mail_enrolments_due",
        "mail_enrolments",
        ["next_due_at"],
        unique=False,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "mail_sequence_steps",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("sequence_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("delay_s", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["mail_sequences.id"],
            name=op.f("fk_mail_sequence_steps_sequence_id_mail_sequences"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_sequence_steps")),
        sa.UniqueConstraint("sequence_id", "position", name="uq_mail_sequence_steps_position"),
    )
    op.create_table(
        "mail_sends",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=True),
        sa.Column("step_id", sa.UUID(), nullable=True),
        sa.Column("enrolment_id", sa.UUID(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("recipient", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("provider_id", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bounced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("complained_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed', 'skipped', 'cancelled')",
            name=op.f("ck_mail_sends_status"),
        ),
        sa.CheckConstraint(
            "(campaign_id IS NOT NULL) <> (step_id IS NOT NULL)",
            name=op.f("ck_mail_sends_campaign_or_step"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["mail_campaigns.id"],
            name=op.f("fk_mail_sends_campaign_id_mail_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["enrolment_id"],
            ["mail_enrolments.id"],
            name=op.f("fk_mail_sends_enrolment_id_mail_enrolments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_mail_sends_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["step_id"],
            ["mail_sequence_steps.id"],
            name=op.f("fk_mail_sends_step_id_mail_sequence_steps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_sends")),
    )
    op.create_index("ix_mail_sends_message_id", "mail_sends", ["message_id"], unique=False)
    op.create_index("ix_mail_sends_org_email", "mail_sends", ["org_id", "email"], unique=False)
    op.create_index("ix_mail_sends_provider_id", "mail_sends", ["provider_id"], unique=False)
    op.create_index(
        "ix_mail_sends_pending",
        "mail_sends",
        ["campaign_id", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "uq_mail_sends_campaign_email",
        "mail_sends",
        ["campaign_id", "email"],
        unique=True,
        postgresql_where=sa.text("campaign_id IS NOT NULL"),
    )
    op.create_index(
        "uq_mail_sends_step_enrolment",
        "mail_sends",
        ["step_id", "enrolment_id"],
        unique=True,
        postgresql_where=sa.text("step_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_mail_sends_step_enrolment",
        table_name="mail_sends",
        postgresql_where=sa.text("step_id IS NOT NULL"),
    )
    op.drop_index(
        "uq_mail_sends_campaign_email",
        table_name="mail_sends",
        postgresql_where=sa.text("campaign_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_mail_sends_pending",
        table_name="mail_sends",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_mail_sends_provider_id", table_name="mail_sends")
    op.drop_index("ix_mail_sends_org_email", table_name="mail_sends")
    op.drop_index("ix_mail_sends_message_id", table_name="mail_sends")
    op.drop_table("mail_sends")
    op.drop_table("mail_sequence_steps")
    op.drop_index(
        "ix_mail_enrolments_due",
        table_name="mail_enrolments",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_table("mail_enrolments")
    op.drop_table("mail_suppressions")
    op.drop_index("ix_mail_sequences_org_id", table_name="mail_sequences")
    op.drop_table("mail_sequences")
    op.drop_index("ix_mail_campaigns_status", table_name="mail_campaigns")
    op.drop_index("ix_mail_campaigns_org_id", table_name="mail_campaigns")
    op.drop_table("mail_campaigns")
