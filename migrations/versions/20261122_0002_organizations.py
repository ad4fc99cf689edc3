"""Organisations, members, invitations, quotas; login sessions and the login audit.

Reviewed by hand. Existing data is carried over: every user gets an organisation they own
(with the user"s id, so jobs.org_id can be filled from jobs.owner_id), and every refresh-token
family becomes a login session. The downgrade folds sessions back into families.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 05:05:53.815637
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TIER = postgresql.ENUM(
    "free", "creator", "professional", "enterprise", name="org_tier", create_type=False
)
ROLE = postgresql.ENUM("owner", "admin", "member", name="member_role", create_type=False)


def upgrade() -> None:
    TIER.create(op.get_bind())
    ROLE.create(op.get_bind())
    op.create_table(
        "organizations",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tier", TIER, server_default="free", nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=400), nullable=True),
        sa.Column("device", sa.String(length=20), nullable=True),
        sa.Column("browser", sa.String(length=100), nullable=True),
        sa.Column("os", sa.String(length=100), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_used_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_auth_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
    )
    op.create_index(
        "ix_auth_sessions_user_id",
        "auth_sessions",
        ["user_id", sa.literal_column("created_at DESC")],
        unique=False,
    )
    op.create_table(
        "invitations",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", ROLE, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.UUID(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["users.id"],
            name=op.f("fk_invitations_invited_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_invitations_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_index(
        "uq_invitations_open",
        "invitations",
        ["org_id", "email"],
        unique=True,
        postgresql_where=sa.text("accepted_at IS NULL AND revoked_at IS NULL"),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=400), nullable=True),
        sa.Column("device", sa.String(length=20), nullable=True),
        sa.Column("browser", sa.String(length=100), nullable=True),
        sa.Column("os", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_login_attempts_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index(
        "ix_login_attempts_email_at",
        "login_attempts",
        ["email", sa.literal_column("at DESC")],
        unique=False,
    )
    op.create_index(
        "ix_login_attempts_user_id_at",
        "login_attempts",
        ["user_id", sa.literal_column("at DESC")],
        unique=False,
    )
    op.create_table(
        "memberships",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("role", ROLE, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_memberships_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("org_id", "user_id", name=op.f("pk_memberships")),
    )
    op.create_index(
        "ix_memberships_user_id", "memberships", ["user_id", "created_at"], unique=False
    )
    op.create_table(
        "org_usage",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("jobs", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_org_usage_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "day", name=op.f("pk_org_usage")),
    )
    op.add_column(
        "email_tokens", sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )

    # Every existing user owns an organisation with the user's own id; their jobs move in.
    op.execute(
        """
        INSERT INTO organizations (id, name, created_at, updated_at)
        SELECT id, left(coalesce(display_name, split_part(email, '@', 1)), 185)
                   || '''s organization',
               created_at, now()
        FROM users
        """
    )
    op.execute(
        "INSERT INTO memberships (org_id, user_id, role, created_at) "
        "SELECT id, id, 'owner', created_at FROM users"
    )
    op.add_column("jobs", sa.Column("org_id", sa.UUID(), nullable=True))
    op.execute("UPDATE jobs SET org_id = owner_id")
    op.alter_column("jobs", "org_id", nullable=False)
    op.drop_index(op.f("ix_jobs_owner_created"), table_name="jobs")
    op.create_index(
        "ix_jobs_org_created",
        "jobs",
        ["org_id", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_foreign_key(
        op.f("fk_jobs_org_id_organizations"),
        "jobs",
        "organizations",
        ["org_id"],
        ["id"],
        ondelete="CASCADE",
    )
    # Every refresh-token family becomes a login session with the family's id.
    op.execute(
        """
        INSERT INTO auth_sessions
            (id, user_id, user_agent, created_at, last_used_at, expires_at, revoked_at)
        SELECT family_id, (array_agg(user_id))[1],
               (array_agg(user_agent ORDER BY created_at DESC))[1],
               min(created_at), max(created_at), max(expires_at),
               CASE WHEN bool_and(revoked_at IS NOT NULL) THEN max(revoked_at) END
        FROM refresh_tokens GROUP BY family_id
        """
    )
    op.add_column("refresh_tokens", sa.Column("session_id", sa.UUID(), nullable=True))
    op.execute("UPDATE refresh_tokens SET session_id = family_id")
    op.alter_column("refresh_tokens", "session_id", nullable=False)
    op.drop_index(op.f("ix_refresh_tokens_family_id"), table_name="refresh_tokens")
    op.create_index(
        op.f("ix_refresh_tokens_session_id"), "refresh_tokens", ["session_id"], unique=False
    )
    op.create_foreign_key(
        op.f("fk_refresh_tokens_session_id_auth_sessions"),
        "refresh_tokens",
        "auth_sessions",
        ["session_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.drop_column("refresh_tokens", "user_agent")
    op.drop_column("refresh_tokens", "family_id")


def downgrade() -> None:
    op.add_column("refresh_tokens", sa.Column("family_id", sa.UUID(), nullable=True))
    op.add_column("refresh_tokens", sa.Column("user_agent", sa.VARCHAR(length=400), nullable=True))
    op.execute(
        """
        UPDATE refresh_tokens r SET family_id = r.session_id, user_agent = s.user_agent,
               revoked_at = coalesce(r.revoked_at, s.revoked_at)
        FROM auth_sessions s WHERE s.id = r.session_id
        """
    )
    op.alter_column("refresh_tokens", "family_id", nullable=False)
    op.drop_constraint(
        op.f("fk_refresh_tokens_session_id_auth_sessions"), "refresh_tokens", type_="foreignkey"
    )
    op.drop_index(op.f("ix_refresh_tokens_session_id"), table_name="refresh_tokens")
    op.create_index(
        op.f("ix_refresh_tokens_family_id"), "refresh_tokens", ["family_id"], unique=False
    )
    op.drop_column("refresh_tokens", "session_id")
    op.drop_constraint(op.f("fk_jobs_org_id_organizations"), "jobs", type_="foreignkey")
    op.drop_index("ix_jobs_org_created", table_name="jobs")
    op.create_index(
        op.f("ix_jobs_owner_created"),
        "jobs",
        ["owner_id", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.drop_column("jobs", "org_id")
    op.drop_column("email_tokens", "data")
    op.drop_table("org_usage")
    op.drop_index("ix_memberships_user_id", table_name="memberships")
    op.drop_table("memberships")
    op.drop_index("ix_login_attempts_user_id_at", table_name="login_attempts")
    op.drop_index("ix_login_attempts_email_at", table_name="login_attempts")
    op.drop_table("login_attempts")
    op.drop_index(
        "uq_invitations_open",
        table_name="invitations",
        postgresql_where=sa.text("accepted_at IS NULL AND revoked_at IS NULL"),
    )
    op.drop_table("invitations")
    op.drop_index("ix_auth_sessions_user_id", table_name="auth_sessions")
    op.drop_table("auth_sessions")
    op.drop_table("organizations")
    ROLE.drop(op.get_bind())
    TIER.drop(op.get_bind())
