"""live: stream sessions and their numbered event logs, overlay links, uploaded effects,
brand kits.

Reviewed by hand. A session's log is keyed (session_id, seq): the replay of a reconnecting
overlay reads a range of it by that key. One active session per creator and platform is a
partial unique index (two starts at once cannot both win); the idle sweep reads active
sessions by last activity through a partial index. An Idempotency-Key is unique within its
session's log. A trigger counts the session's effects not yet finished through a partial
index on (session_id, ends_at), not by scanning its log. Overlay tokens are looked up by
their hash (unique).

Revision ID: 0019_live
Revises: 0018_engagement
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019_live"
down_revision: str | None = "0018_engagement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)
JSONB = postgresql.JSONB()


def _id() -> sa.Column:
    return sa.Column("id", UUID, server_default=sa.text("gen_random_uuid()"), nullable=False)


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def _org(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id"],
        ["organizations.id"],
        ondelete="CASCADE",
        name=f"fk_{table}_org_id_organizations",
    )


def upgrade() -> None:
    op.create_table(
        "live_brand_kits",
        _id(),
        sa.Column("org_id", UUID, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("palette", JSONB, nullable=False),
        sa.Column("typography", JSONB, nullable=False),
        sa.Column("motion_intensity", sa.SmallInteger(), nullable=False),
        sa.Column("allowed_categories", JSONB, nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_live_brand_kits"),
        _org("live_brand_kits"),
        sa.CheckConstraint(
            "motion_intensity BETWEEN 1 AND 5", name="ck_live_brand_kits_motion_intensity"
        ),
    )
    op.create_index("ix_live_brand_kits_org_id", "live_brand_kits", ["org_id", "created_at"])

    op.create_table(
        "live_sessions",
        _id(),
        sa.Column("org_id", UUID, nullable=False),
        sa.Column("created_by", UUID, nullable=True),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.String(10), server_default="active", nullable=False),
        sa.Column("brand_kit_id", UUID, nullable=True),
        _now("started_at"),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(20), nullable=True),
        _now("last_activity_at"),
        sa.Column("last_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("queue_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("triggers", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_live_sessions"),
        _org("live_sessions"),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            ondelete="SET NULL",
            name="fk_live_sessions_created_by_users",
        ),
        sa.ForeignKeyConstraint(
            ["brand_kit_id"],
            ["live_brand_kits.id"],
            ondelete="SET NULL",
            name="fk_live_sessions_brand_kit_id_live_brand_kits",
        ),
        sa.CheckConstraint("status IN ('active', 'ended')", name="ck_live_sessions_status"),
    )
    op.create_index(
        "uq_live_sessions_active",
        "live_sessions",
        ["created_by", "platform"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index("ix_live_sessions_org_id", "live_sessions", ["org_id", "started_at"])
    op.create_index(
        "ix_live_sessions_idle",
        "live_sessions",
        ["last_activity_at"],
        postgresql_where=sa.text("status = 'active'"),
    )

    op.create_table(
        "live_events",
        sa.Column("session_id", UUID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("org_id", UUID, nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("data", JSONB, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        _now("created_at"),
        sa.PrimaryKeyConstraint("session_id", "seq", name="pk_live_events"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            ondelete="CASCADE",
            name="fk_live_events_session_id_live_sessions",
        ),
        _org("live_events"),
        sa.CheckConstraint(
            "type IN ('effect', 'session_ended', 'token_revoked')", name="ck_live_events_type"
        ),
    )
    op.create_index(
        "uq_live_events_idempotency_key",
        "live_events",
        ["session_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_index(
        "ix_live_events_queue",
        "live_events",
        ["session_id", "ends_at"],
        postgresql_where=sa.text("type = 'effect'"),
    )

    op.create_table(
        "live_overlay_tokens",
        _id(),
        sa.Column("session_id", UUID, nullable=False),
        sa.Column("org_id", UUID, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        _now("created_at"),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_live_overlay_tokens"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            ondelete="CASCADE",
            name="fk_live_overlay_tokens_session_id_live_sessions",
        ),
        _org("live_overlay_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_live_overlay_tokens_token_hash"),
    )
    op.create_index("ix_live_overlay_tokens_session_id", "live_overlay_tokens", ["session_id"])

    op.create_table(
        "live_effects",
        _id(),
        sa.Column("org_id", UUID, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(300), nullable=False),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(10), server_default="pending", nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("details", JSONB, server_default="{}", nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_live_effects"),
        _org("live_effects"),
        sa.CheckConstraint(
            "status IN ('pending', 'passed', 'failed')", name="ck_live_effects_status"
        ),
    )
    op.create_index("ix_live_effects_org_id", "live_effects", ["org_id", "created_at"])


def downgrade() -> None:
    op.drop_table("live_effects")
    op.drop_table("live_overlay_tokens")
    op.drop_table("live_events")
    op.drop_table("live_sessions")
    op.drop_table("live_brand_kits")
