"""Influencer search: campaigns, their searches, the creators found, exclusion lists.

Reviewed by hand. A creator is unique per (campaign, platform, platform id): that constraint
is what de-duplicates across pages, searches and restarts (inserts use ON CONFLICT on it).
A search's cursor and counts live on its row and move in the page's own transaction.
Indexes serve the queries: campaigns and searches listed newest first per organisation or
campaign, creators per campaign (keyset) and per search (enrichment), searches by job id (the
job loads its search), credits summed per organisation. Every row of the domain goes with its
organisation (ON DELETE CASCADE); a deleted user leaves their campaigns to the organisation.

Revision ID: 0007_influencers
Revises: 0006_accounts
Create Date: 2026-12-06 19:48:19.339467
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_influencers"
down_revision: str | None = "0006_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "influencer_campaigns",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.String(length=20), server_default="active", nullable=False),
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
            "status IN ('active', 'paused', 'archived')",
            name=op.f("ck_influencer_campaigns_status"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_influencer_campaigns_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_influencer_campaigns_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_influencer_campaigns")),
    )
    op.create_index(
        "ix_influencer_campaigns_org_id",
        "influencer_campaigns",
        ["org_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "influencer_exclusions",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("platform_id", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=200), server_default="", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "platform IN ('tiktok', 'instagram', 'youtube')",
            name=op.f("ck_influencer_exclusions_platform"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_influencer_exclusions_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "org_id", "platform", "platform_id", name=op.f("pk_influencer_exclusions")
        ),
    )
    op.create_table(
        "influencer_searches",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("job_id", sa.UUID(), nullable=True),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("keywords", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("seed_handle", sa.String(length=200), nullable=True),
        sa.Column(
            "filters",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("credit_budget", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), server_default="queued", nullable=False),
        sa.Column("stop_reason", sa.String(length=20), nullable=True),
        sa.Column(
            "cursor",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("pages_fetched", sa.Integer(), server_default="0", nullable=False),
        sa.Column("found", sa.Integer(), server_default="0", nullable=False),
        sa.Column("enriched", sa.Integer(), server_default="0", nullable=False),
        sa.Column("credits_used", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
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
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "platform IN ('tiktok', 'instagram', 'youtube')",
            name=op.f("ck_influencer_searches_platform"),
        ),
        sa.CheckConstraint(
            "state IN ('queued', 'searching', 'enriching', 'completed', 'failed')",
            name=op.f("ck_influencer_searches_state"),
        ),
        sa.CheckConstraint(
            "stop_reason IS NULL OR stop_reason IN ('target', 'budget', 'exhausted')",
            name=op.f("ck_influencer_searches_stop_reason"),
        ),
        sa.CheckConstraint(
            "type IN ('keyword', 'similar')", name=op.f("ck_influencer_searches_type")
        ),
        sa.CheckConstraint(
            "found >= 0 AND enriched >= 0 AND credits_used >= 0 AND pages_fetched >= 0",
            name=op.f("ck_influencer_searches_counts"),
        ),
        sa.CheckConstraint(
            "target > 0 AND credit_budget > 0", name=op.f("ck_influencer_searches_limits")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["influencer_campaigns.id"],
            name=op.f("fk_influencer_searches_campaign_id_influencer_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_influencer_searches_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_influencer_searches_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_influencer_searches_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_influencer_searches")),
    )
    op.create_index(
        "ix_influencer_searches_campaign_id",
        "influencer_searches",
        ["campaign_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_influencer_searches_job_id", "influencer_searches", ["job_id"], unique=False
    )
    op.create_index(
        "ix_influencer_searches_org_id", "influencer_searches", ["org_id"], unique=False
    )
    op.create_table(
        "influencer_creators",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("search_id", sa.UUID(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("platform_id", sa.String(length=100), nullable=False),
        sa.Column("handle", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=300), server_default="", nullable=False),
        sa.Column("profile_url", sa.Text(), server_default="", nullable=False),
        sa.Column("avatar_url", sa.Text(), server_default="", nullable=False),
        sa.Column("followers", sa.BigInteger(), nullable=True),
        sa.Column("bio", sa.Text(), server_default="", nullable=False),
        sa.Column("emails", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("has_email", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("links", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("country", sa.String(length=10), nullable=True),
        sa.Column("engagement_rate", sa.Numeric(precision=12, scale=6), nullable=True),
        sa.Column("engagement_formula", sa.String(length=60), nullable=True),
        sa.Column(
            "content",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("match_terms", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("match_score", sa.Integer(), server_default="0", nullable=False),
        sa.Column("match_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("enriched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enrich_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "platform IN ('tiktok', 'instagram', 'youtube')",
            name=op.f("ck_influencer_creators_platform"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["influencer_campaigns.id"],
            name=op.f("fk_influencer_creators_campaign_id_influencer_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_influencer_creators_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["influencer_searches.id"],
            name=op.f("fk_influencer_creators_search_id_influencer_searches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_influencer_creators")),
        sa.UniqueConstraint(
            "campaign_id", "platform", "platform_id", name="uq_influencer_creators"
        ),
    )
    op.create_index(
        "ix_influencer_creators_campaign_id",
        "influencer_creators",
        ["campaign_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_influencer_creators_followers",
        "influencer_creators",
        ["campaign_id", "followers", "id"],
        unique=False,
    )
    op.create_index(
        "ix_influencer_creators_search_id",
        "influencer_creators",
        ["search_id", "created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_influencer_creators_search_id", table_name="influencer_creators")
    op.drop_index("ix_influencer_creators_followers", table_name="influencer_creators")
    op.drop_index("ix_influencer_creators_campaign_id", table_name="influencer_creators")
    op.drop_table("influencer_creators")
    op.drop_index("ix_influencer_searches_org_id", table_name="influencer_searches")
    op.drop_index("ix_influencer_searches_job_id", table_name="influencer_searches")
    op.drop_index("ix_influencer_searches_campaign_id", table_name="influencer_searches")
    op.drop_table("influencer_searches")
    op.drop_table("influencer_exclusions")
    op.drop_index("ix_influencer_campaigns_org_id", table_name="influencer_campaigns")
    op.drop_table("influencer_campaigns")
