"""A campaign's creators as a CSV file, written to storage and downloaded through the API.

Rows are streamed from the database in batches into a spooled file (memory, then disk), so a
large export holds one batch in memory. UTF-8 with a byte-order mark, for spreadsheets that
would otherwise guess the encoding; every field quoted where needed by the csv module, and a
cell a spreadsheet would run as a formula (=, +, -, @ first) written as text.
"""

from __future__ import annotations

import codecs
import csv
import io
import tempfile
import uuid
from typing import Any

from models.core.errors import NotFound
from models.influencers import Creator
from models.influencers.campaigns import get_campaign
from models.influencers.creators import export_rows
from workers.core.context import JobContext
from workers.core.errors import PermanentError
from workers.core.storage import storage

COLUMNS = (
    "platform", "handle", "display_name", "profile_url", "followers", "emails",
    "engagement_rate", "engagement_formula", "country", "bio", "links", "match_reason",
    "platform_id", "found_at",
)  # fmt: skip
SPOOL_BYTES = 4 * 1024 * 1024
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_key(job_id: str) -> str:
    return f"influencers/exports/{job_id}.csv"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _row(creator: Creator) -> list[str]:
    values = (
        creator.platform, creator.handle, creator.display_name, creator.profile_url,
        creator.followers, ";".join(creator.emails), creator.engagement_rate,
        creator.engagement_formula, creator.country, creator.bio, " ".join(creator.links),
        creator.match_reason, creator.platform_id, creator.created_at.isoformat(),
    )  # fmt: skip
    return [_cell(v) for v in values]


def write_export(
    ctx: JobContext, campaign_id: uuid.UUID, filters: dict[str, Any]
) -> dict[str, Any]:
    if ctx.org_id is None:
        raise PermanentError("an export belongs to an organisation")
    rows = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="", write_through=True)
        spool.write(codecs.BOM_UTF8)
        writer = csv.writer(text)
        writer.writerow(COLUMNS)
        with ctx.sessions() as session:
            try:
                get_campaign(session=session, org_id=ctx.org_id, campaign_id=campaign_id)
            except NotFound as exc:
                raise PermanentError(str(exc)) from None
            for creator in export_rows(session=session, campaign_id=campaign_id, filters=filters):
                writer.writerow(_row(creator))
                rows += 1
                if rows % 1000 == 0:
                    ctx.progress(rows, None, f"{rows} rows")
        text.flush()
        spool.seek(0)
        stored = storage(ctx.settings).put(export_key(ctx.job_id), spool)  # type: ignore[arg-type]
        text.detach()
    return {
        "rows": rows,
        "bytes": stored.size,
        "sha256": stored.sha256,
        "download_path": f"/api/v1/influencers/exports/{ctx.job_id}",
    }
