"""fans: an artist's fans (the artist is the organisation) and their CSV imports.

Reviewed by hand.

- fans: one row per fan; (org_id, email) unique, so an address is on an artist's list once
  (the API answers 409 with the existing fan; imports skip it). Lists are pages newest first,
  served by (org_id, created_at, id). Search is a substring match on name and e-mail: a
  stored lower-cased `search_text` with a trigram GIN index (pg_trgm), fast on a million fans.
  A PostgreSQL without the pg_trgm extension (the embedded one of `make run` has none) gets
  no such index: search still answers, scanning an artist's fans, and a warning says so.
  Checks keep status, gender, country, age and birth year to what the API accepts.
- fan_imports: an uploaded CSV, its column mapping and its outcome; listed newest first per
  organisation.
- artist_pages: one public page per organisation, found by its unique slug (checked: lower
  case letters, digits and dashes).
- fan_signups: sign-ups on a public page waiting for their address to confirm (double
  opt-in); the mailed token is stored as its SHA-256, unique.
- releases, release_tracks, release_events: a release (type and status checked), its tracks
  (keyed by position) and its history of transitions. Listed per organisation newest first;
  the admins' review queue reads (status, submitted_at).
- release_files: the artwork (position 0) and each track's audio, one current file per slot
  (unique), with its check's outcome.

Revision ID: 0009_fans
Revises: 0008_webhooks
Create Date: 2026-12-06 20:00:00.000000
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

log = logging.getLogger("alembic.runtime.migration")

revision: str = "0009_fans"
down_revision: str | None = "0008_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    ]


def _updated_at() -> sa.Column:
    return sa.Column(
        "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _trigrams_available() -> bool:
    available = sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    return op.get_bind().execute(available).scalar() is not None


def upgrade() -> None:
    trigrams = _trigrams_available()
    if trigrams:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    else:
        log.warning(
            "PostgreSQL has no pg_trgm extension (postgresql-contrib): fan search works, "
            "without its trigram index; slow past some 100,000 fans per artist"
        )
    op.create_table(
        "fans",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("gender", sa.String(length=20), nullable=True),
        sa.Column("age", sa.SmallInteger(), nullable=True),
        sa.Column("birth_year", sa.SmallInteger(), nullable=True),
        sa.Column("status", sa.String(length=10), server_default="free", nullable=False),
        sa.Column("source", sa.String(length=50), server_default="manual", nullable=False),
        sa.Column(
            "tags", postgresql.ARRAY(sa.String(length=50)), server_default="{}", nullable=False
        ),
        sa.Column("consent", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "search_text",
            sa.Text(),
            sa.Computed("lower(coalesce(name, '') || ' ' || email)", persisted=True),
            nullable=False,
        ),
        *_timestamps(),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("status IN ('free', 'paid')", name=op.f("ck_fans_status")),
        sa.CheckConstraint(
            "gender IS NULL OR gender IN ('female', 'male', 'non_binary', 'undisclosed')",
            name=op.f("ck_fans_gender"),
        ),
        sa.CheckConstraint("age IS NULL OR age BETWEEN 1 AND 130", name=op.f("ck_fans_age")),
        sa.CheckConstraint(
            "birth_year IS NULL OR birth_year BETWEEN 1880 AND 2100",
            name=op.f("ck_fans_birth_year"),
        ),
        sa.CheckConstraint(
            "country IS NULL OR country ~ '^[A-Z]{2}$'", name=op.f("ck_fans_country")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_fans_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fans")),
        sa.UniqueConstraint("org_id", "email", name="uq_fans_org_id_email"),
    )
    op.create_index("ix_fans_org_id_created_at", "fans", ["org_id", "created_at", "id"])
    if trigrams:
        op.create_index(
            "ix_fans_search_text",
            "fans",
            ["search_text"],
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        )
    op.create_table(
        "fan_imports",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("columns", postgresql.JSONB(), nullable=False),
        sa.Column("preview", postgresql.JSONB(), nullable=False),
        sa.Column("mapping", postgresql.JSONB(), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="uploaded", nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=True),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "status IN ('uploaded', 'queued', 'imported', 'failed')",
            name=op.f("ck_fan_imports_status"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_fan_imports_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_fan_imports_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fan_imports")),
    )
    op.create_index("ix_fan_imports_org_id_created_at", "fan_imports", ["org_id", "created_at"])
    op.create_table(
        "artist_pages",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("slug", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("bio", sa.Text(), server_default="", nullable=False),
        sa.Column("links", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("published", sa.Boolean(), server_default="true", nullable=False),
        *_timestamps(),
        _updated_at(),
        sa.CheckConstraint(
            "slug ~ '^[a-z0-9](?:[a-z0-9-]{1,58})[a-z0-9]$'", name=op.f("ck_artist_pages_slug")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_artist_pages_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_artist_pages")),
        sa.UniqueConstraint("slug", name=op.f("uq_artist_pages_slug")),
    )
    op.create_table(
        "fan_signups",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_fan_signups_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fan_signups")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_fan_signups_token_hash")),
    )
    op.create_index("ix_fan_signups_org_id_email", "fan_signups", ["org_id", "email"])
    _releases()


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def _names(column: str) -> sa.Column:
    return sa.Column(
        column, postgresql.ARRAY(sa.String(length=200)), server_default="{}", nullable=False
    )


def _releases() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("artist_name", sa.String(length=200), nullable=False),
        sa.Column("genre", sa.String(length=100), nullable=True),
        sa.Column("release_date", sa.Date(), nullable=True),
        sa.Column("upc", sa.String(length=14), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="draft", nullable=False),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        _updated_at(),
        sa.CheckConstraint("type IN ('single', 'ep', 'album')", name=op.f("ck_releases_type")),
        sa.CheckConstraint(
            "status IN ('draft', 'under_review', 'approved', 'rejected')",
            name=op.f("ck_releases_status"),
        ),
        _fk("releases", "org_id", "organizations"),
        _fk("releases", "created_by", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
    )
    op.create_index("ix_releases_org_id_created_at", "releases", ["org_id", "created_at", "id"])
    op.create_index("ix_releases_status_submitted_at", "releases", ["status", "submitted_at"])
    op.create_table(
        "release_tracks",
        sa.Column("release_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        _names("artists"),
        _names("featured_artists"),
        _names("songwriters"),
        sa.Column("credits", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("genre", sa.String(length=100), nullable=True),
        sa.Column("isrc", sa.String(length=12), nullable=True),
        sa.Column("lyrics", sa.Text(), nullable=True),
        sa.CheckConstraint("position >= 1", name=op.f("ck_release_tracks_position")),
        _fk("release_tracks", "release_id", "releases"),
        sa.PrimaryKeyConstraint("release_id", "position", name=op.f("pk_release_tracks")),
    )
    op.create_table(
        "release_events",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("release_id", sa.UUID(), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        *_timestamps(),
        _fk("release_events", "release_id", "releases"),
        _fk("release_events", "actor_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release_events")),
    )
    op.create_index("ix_release_events_release_id", "release_events", ["release_id", "id"])
    op.create_table(
        "release_files",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("release_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("details", postgresql.JSONB(), server_default="{}", nullable=False),
        *_timestamps(),
        sa.CheckConstraint("kind IN ('artwork', 'audio')", name=op.f("ck_release_files_kind")),
        sa.CheckConstraint(
            "status IN ('pending', 'passed', 'failed')", name=op.f("ck_release_files_status")
        ),
        _fk("release_files", "org_id", "organizations"),
        _fk("release_files", "release_id", "releases"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release_files")),
    )
    op.create_index(
        "uq_release_files_slot", "release_files", ["release_id", "kind", "position"], unique=True
    )
    op.create_index("ix_release_files_org_id", "release_files", ["org_id"])


def downgrade() -> None:
    op.drop_table("release_files")
    op.drop_table("release_events")
    op.drop_table("release_tracks")
    op.drop_table("releases")
    op.drop_table("fan_signups")
    op.drop_table("artist_pages")
    op.drop_table("fan_imports")
    op.drop_table("fans")
