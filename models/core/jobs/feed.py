"""Reading jobs' histories as feeds that resume where a reader left off, without a gap.

One job's events commit in the order of their ids: every change to a job locks its row
before it writes an event, so the next change's event gets a later id. A reader of one job
resumes after the last id it has.

Across an organisation's jobs that does not hold: two jobs' transactions may commit their
events out of id order, and a reader that has seen 101 may not yet see 100, still being
written. So an organisation's cursor holds, with the last id read, the transactions that
were still running when it was read (from the read's own snapshot; job_events.txid,
migration 0005, says which transaction wrote each event); the next read takes what lies past
the id and whatever those transactions wrote. A reader that keeps its cursor reads each event
once. A cursor written out (an event stream's id) keeps only the oldest of those
transactions: resumed from it, a reader may get again some events it had, never fewer.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from models.core.errors import InvalidInput

MAX_BIGINT = 2**63 - 1
PAGE = 500  # events per read at most
_CURSOR = re.compile(r"^(\d{1,19})(?:\.(\d{1,20}))?$")


@dataclass(frozen=True)
class FeedEvent:
    """One event of a job's history, with what a feed's reader needs to place it."""

    id: int
    job_id: uuid.UUID
    kind: str
    type: str
    message: str | None
    data: dict[str, Any] | None
    at: datetime
    status: str  # the job's status when read

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job_id": str(self.job_id),
            "kind": self.kind,
            "type": self.type,
            "message": self.message,
            "data": self.data,
            "at": self.at.isoformat(),
            "status": self.status,
        }


@dataclass(frozen=True)
class Cursor:
    """Where a feed's reader is: the last event id it has and, for an organisation's feed,
    the transactions that were running when it read it (their events may lie below the id):
    exactly, as a live reader keeps it, or from the oldest on, as written out."""

    after_id: int = 0
    running: tuple[int, ...] | None = None
    oldest_running: int | None = None
    # Resumed from the oldest running transaction: how far the re-reading has gone, and the
    # transactions running at each of its pages' reads (their events may lie below).
    page_after: int = 0
    carried: tuple[int, ...] = ()

    def __str__(self) -> str:
        if self.oldest_running is None:
            return str(self.after_id)
        return f"{self.after_id}.{self.oldest_running}"

    @classmethod
    def parse(cls, value: str) -> Cursor:
        """A cursor as `str()` wrote it (a Last-Event-ID); InvalidInput if it is not one."""
        match = _CURSOR.match(value.strip())
        numbers = [int(g) for g in match.groups() if g is not None] if match else []
        if not numbers or max(numbers) > MAX_BIGINT:
            raise InvalidInput(
                "Last-Event-ID must be an event id this API sent",
                details={"fields": {"Last-Event-ID": ["invalid"]}},
            )
        return cls(numbers[0], None, numbers[1] if len(numbers) > 1 else None)


_COLUMNS = """e.id, e.job_id, j.kind, e.type, e.message, e.data, e.at, j.status::text AS status"""
_JOB_EVENTS = text(
    """SELECT e.id, e.job_id, j.kind, e.type, e.message, e.data, e.at, j.status::text AS status
    FROM job_events e JOIN jobs j ON j.id = e.job_id
    WHERE e.job_id = :job_id AND e.id > :after ORDER BY e.id LIMIT :limit"""
)
# One statement, so that the snapshot named is the one the events were read in. It answers one
# row at least (events or none, and the snapshot on each).
_ORG_EVENTS = """SELECT snap.s::text AS snapshot, snap.newest, ev.*
    FROM (SELECT pg_current_snapshot() AS s,
                 (SELECT coalesce(max(id), 0) FROM job_events) AS newest) AS snap
    LEFT JOIN LATERAL (
        SELECT {columns} FROM job_events e JOIN jobs j ON j.id = e.job_id
        WHERE j.org_id = :org_id AND NOT j.internal AND e.id > :page_after
          AND (e.id > :after OR {overlap})
        ORDER BY e.id LIMIT :limit
    ) AS ev ON true"""
_ORG_LIVE = text(
    _ORG_EVENTS.format(columns=_COLUMNS, overlap="e.txid = ANY(CAST(:running AS xid8[]))")
)
_ORG_RESUMED = text(_ORG_EVENTS.format(columns=_COLUMNS, overlap="e.txid >= CAST(:oldest AS xid8)"))


def job_events(
    *, session: Session, job_id: uuid.UUID, after_id: int, limit: int = PAGE
) -> list[FeedEvent]:
    """The job's events after `after_id`, oldest first (the caller has checked access)."""
    rows = session.execute(_JOB_EVENTS, {"job_id": job_id, "after": after_id, "limit": limit})
    return [FeedEvent(**row._mapping) for row in rows]


def org_cursor_now(*, session: Session, org_id: uuid.UUID) -> Cursor:
    """A cursor from which an organisation's feed goes on with what happens from now."""
    _, cursor = org_events(session=session, org_id=org_id, cursor=Cursor(0, ()), limit=0)
    return cursor


def org_events(
    *, session: Session, org_id: uuid.UUID, cursor: Cursor, limit: int = PAGE
) -> tuple[list[FeedEvent], Cursor]:
    """The organisation's job events past `cursor`, oldest first, and the next cursor."""
    params: dict[str, Any] = {
        "org_id": org_id,
        "after": cursor.after_id,
        "page_after": cursor.page_after,
        "limit": limit,
    }
    if cursor.running is not None:
        query = _ORG_LIVE
        params["running"] = "{" + ",".join(map(str, cursor.running)) + "}"
    elif cursor.oldest_running is not None:
        query, params["oldest"] = _ORG_RESUMED, str(cursor.oldest_running)
    else:  # a job feed's cursor: everything past its id
        query, params["running"] = _ORG_LIVE, "{}"
    rows = session.execute(query, params).all()
    xmin, _xmax, listed = rows[0].snapshot.split(":")
    running = {int(x) for x in listed.split(",") if x}
    events = [
        FeedEvent(**{k: v for k, v in row._mapping.items() if k not in ("snapshot", "newest")})
        for row in rows
        if row.id is not None
    ]
    full = limit > 0 and len(events) == limit
    if query is _ORG_RESUMED and full:  # more to re-read, from the next id on
        carried = tuple(sorted(running.union(cursor.carried)))
        return events, dataclasses.replace(cursor, page_after=events[-1].id, carried=carried)
    # Whatever was running at this read may yet commit events below the newest id read; a
    # transaction that starts later gets ids past every one this read could see. A read that
    # was not cut short saw every event up to the newest on the whole table, the organisation's
    # or not: the cursor moves there, so a quiet organisation's reads stay short.
    newest = max([cursor.after_id, cursor.page_after, *(e.id for e in events)])
    if not full:
        newest = max(newest, int(rows[0].newest))
    running.update(cursor.carried)
    return events, Cursor(newest, tuple(sorted(running)), int(xmin))
