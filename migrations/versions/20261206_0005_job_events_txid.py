"""job_events.txid: the transaction that wrote each event, for streams that resume without gaps.

Reviewed by hand. Event ids come from a sequence when a row is written, not when it commits:
a transaction may commit event 101 before another commits event 100. A stream that resumed
"after 101" would then skip 100. With the writing transaction's id on every event and the
oldest transaction still running noted at each read (pg_snapshot_xmin), a reader can re-read
whatever a transaction unfinished at its last read may have written (web/core/streams.py).

Reading by transaction needs every event's transaction id to exist before its event id is
drawn: a reader's snapshot must not miss, as "not running", a transaction that already holds
an id. So the id's default asks for the transaction id first (a CASE evaluates its condition
before its result).

The column is added without a default, then given one: adding it with a volatile default
would rewrite the table; as it is, existing rows keep NULL (written long ago: settled).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE job_events ADD COLUMN txid xid8")
    op.execute("ALTER TABLE job_events ALTER COLUMN txid SET DEFAULT pg_current_xact_id()")
    op.execute(
        "ALTER TABLE job_events ALTER COLUMN id SET DEFAULT CASE WHEN pg_current_xact_id() "
        "IS NOT NULL THEN nextval('job_events_id_seq'::regclass) END"
    )
    # For the reads by transaction. Existing rows are NULL and left out of it, so building it
    # is a scan of the table, no more (it holds writes to job_events for that scan).
    op.create_index(
        "ix_job_events_txid",
        "job_events",
        ["txid"],
        postgresql_where=sa.text("txid IS NOT NULL"),
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE job_events ALTER COLUMN id SET DEFAULT nextval('job_events_id_seq'::regclass)"
    )
    op.drop_index("ix_job_events_txid", table_name="job_events")
    op.drop_column("job_events", "txid")
