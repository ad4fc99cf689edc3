"""leads: goals with their search strategies, search results, leads and their changes.

Reviewed by hand. A lead is one per (organisation, company domain): the unique constraint is
what keeps two searches finding the same company at once from making two leads (the losing
insert becomes a merge). A goal's results are kept once per URL (pages of one query overlap,
and queries find the same pages). The list of leads is read newest first by keyset, with or
without a status filter: an index for each; tags are searched with a GIN index.

Revision ID: 0011_leads
Revises: 0010_revenue
Create Date: 2026-12-06 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011_leads"
down_revision: str | None = "0010_revenue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GOAL_STATUS = postgresql.ENUM(
    "planning",
    "searching",
    "done",
    "failed",
    "cancelled",
    name="lead_goal_status",
    create_type=False,
)
LEAD_STATUS = postgresql.ENUM(
    "new", "contacted", "qualified", "converted", "lost", name="lead_status", create_type=False
)


def _id() -> sa.Column:
    return sa.Column(
        "id",
        postgresql.UUID(as_uuid=True),
        server_default=sa.text("gen_random_uuid()"),
        nullable=False,
    )


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    GOAL_STATUS.create(op.get_bind())
    LEAD_STATUS.create(op.get_bind())
    op.create_table(
        "lead_goals",
        _id(),
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("created_by", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("target_market", sa.Text(), server_default="", nullable=False),
        sa.Column("location", sa.Text(), server_default="", nullable=False),
        sa.Column("ideal_customer", sa.Text(), server_default="", nullable=False),
        sa.Column("lead_count", sa.Integer(), nullable=False),
        sa.Column("status", GOAL_STATUS, server_default="planning", nullable=False),
        sa.Column("strategy", postgresql.JSONB(), nullable=True),
        sa.Column("model", sa.String(100), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("completion_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("searches", sa.Integer(), server_default="0", nullable=False),
        sa.Column("strategy_job_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("search_job_id", postgresql.UUID(as_uuid=True), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_lead_goals"),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            ondelete="CASCADE",
            name="fk_lead_goals_org_id_organizations",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            ondelete="SET NULL",
            name="fk_lead_goals_created_by_users",
        ),
        sa.CheckConstraint("lead_count BETWEEN 1 AND 500", name="ck_lead_goals_lead_count"),
    )
    op.create_index("ix_lead_goals_org_id", "lead_goals", ["org_id", "created_at", "id"])

    op.create_table(
        "lead_search_results",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("goal_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("altered_query", sa.Text(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), server_default="", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_lead_search_results"),
        sa.ForeignKeyConstraint(
            ["goal_id"],
            ["lead_goals.id"],
            ondelete="CASCADE",
            name="fk_lead_search_results_goal_id_lead_goals",
        ),
        # Also the index the goal's results are read by.
        sa.UniqueConstraint("goal_id", "url", name="uq_lead_search_results_goal_url"),
    )

    op.create_table(
        "leads",
        _id(),
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("goal_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("company_name", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "emails", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column(
            "phones", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column(
            "social", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("score", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "score_reasons",
            postgresql.JSONB(),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("status", LEAD_STATUS, server_default="new", nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.String(50)), server_default="{}", nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_leads"),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            ondelete="CASCADE",
            name="fk_leads_org_id_organizations",
        ),
        sa.ForeignKeyConstraint(
            ["goal_id"],
            ["lead_goals.id"],
            ondelete="SET NULL",
            name="fk_leads_goal_id_lead_goals",
        ),
        sa.UniqueConstraint("org_id", "domain", name="uq_leads_org_domain"),
        sa.CheckConstraint("score BETWEEN 0 AND 100", name="ck_leads_score"),
    )
    op.create_index("ix_leads_org_created", "leads", ["org_id", "created_at", "id"])
    op.create_index(
        "ix_leads_org_status_created", "leads", ["org_id", "status", "created_at", "id"]
    )
    op.create_index("ix_leads_goal_id", "leads", ["goal_id"])
    op.create_index("ix_leads_tags", "leads", ["tags"], postgresql_using="gin")

    op.create_table(
        "lead_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("lead_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("actor_id", postgresql.UUID(as_uuid=True), nullable=True),
        _now("changed_at"),
        sa.Column("before", postgresql.JSONB(), nullable=False),
        sa.Column("after", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lead_changes"),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], ondelete="CASCADE", name="fk_lead_changes_lead_id_leads"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            ondelete="CASCADE",
            name="fk_lead_changes_org_id_organizations",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            ondelete="SET NULL",
            name="fk_lead_changes_actor_id_users",
        ),
    )
    op.create_index("ix_lead_changes_lead_id", "lead_changes", ["lead_id", "id"])
    # The organisation's notifications: its changes, newest first.
    op.create_index("ix_lead_changes_org_id", "lead_changes", ["org_id", "id"])

    op.create_table(
        "lead_interactions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("lead_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("actor_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("happened_at", sa.DateTime(timezone=True), nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_lead_interactions"),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            ondelete="CASCADE",
            name="fk_lead_interactions_lead_id_leads",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            ondelete="SET NULL",
            name="fk_lead_interactions_actor_id_users",
        ),
        sa.CheckConstraint(
            "kind IN ('note', 'call', 'email', 'meeting', 'follow_up')",
            name="ck_lead_interactions_kind",
        ),
    )
    op.create_index("ix_lead_interactions_lead_id", "lead_interactions", ["lead_id", "happened_at"])

    # One verdict per lead and address, replaced when checked again; read by lead.
    op.create_table(
        "lead_email_checks",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("lead_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("reasons", postgresql.JSONB(), nullable=False),
        sa.Column("source", sa.String(50), nullable=False),
        _now("checked_at"),
        sa.PrimaryKeyConstraint("id", name="pk_lead_email_checks"),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], ondelete="CASCADE", name="fk_lead_email_checks_lead_id_leads"
        ),
        sa.UniqueConstraint("lead_id", "email", name="uq_lead_email_checks_lead_email"),
        sa.CheckConstraint(
            "verdict IN ('valid', 'risky', 'invalid', 'unknown')",
            name="ck_lead_email_checks_verdict",
        ),
    )

    op.create_table(
        "lead_reports",
        _id(),
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("created_by", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("filters", postgresql.JSONB(), nullable=False),
        sa.Column("job_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("storage_key", sa.String(300), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        _now("created_at"),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lead_reports"),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            ondelete="CASCADE",
            name="fk_lead_reports_org_id_organizations",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            ondelete="SET NULL",
            name="fk_lead_reports_created_by_users",
        ),
        sa.CheckConstraint("format IN ('csv', 'xlsx')", name="ck_lead_reports_format"),
    )
    op.create_index("ix_lead_reports_org_id", "lead_reports", ["org_id", "created_at"])

    # One row per organisation and month: the primary key is the budget check's index.
    op.create_table(
        "lead_spending",
        sa.Column("org_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("searches", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("org_id", "month", name="pk_lead_spending"),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            ondelete="CASCADE",
            name="fk_lead_spending_org_id_organizations",
        ),
    )


def downgrade() -> None:
    op.drop_table("lead_spending")
    op.drop_table("lead_reports")
    op.drop_table("lead_email_checks")
    op.drop_table("lead_interactions")
    op.drop_table("lead_changes")
    op.drop_table("leads")
    op.drop_table("lead_search_results")
    op.drop_table("lead_goals")
    LEAD_STATUS.drop(op.get_bind())
    GOAL_STATUS.drop(op.get_bind())
