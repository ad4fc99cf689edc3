"""Lead reports: an organisation's leads exported as CSV or XLSX by a job, then downloaded.

The report row is the request and, once the job has written the file to storage, where it
is. Rows are read in keyset batches, so a large organisation's report never sits whole in
memory."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, select, text, tuple_
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.core.base import Base, now_ts, utcnow, uuid_pk
from models.core.errors import NotFound
from models.leads.tables import Lead

FORMATS = ("csv", "xlsx")
COLUMNS = (
    "domain",
    "company_name",
    "status",
    "score",
    "emails",
    "phones",
    "social",
    "tags",
    "source",
    "source_url",
    "created_at",
)
BATCH = 1000


class Report(Base):
    __tablename__ = "lead_reports"
    __table_args__ = (
        CheckConstraint("format IN ('csv', 'xlsx')", name="format"),
        Index("ix_lead_reports_org_id", "org_id", "created_at"),
        Index(
            "ix_lead_reports_schedule_id",
            "schedule_id",
            postgresql_where=text("schedule_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    format: Mapped[str] = mapped_column(String(10))
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB)
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # Set when a schedule asked for it: the requester is mailed a link once it is ready.
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("lead_report_schedules.id", ondelete="SET NULL")
    )
    storage_key: Mapped[str | None] = mapped_column(String(300))  # set once written
    size: Mapped[int | None] = mapped_column(BigInteger)
    rows: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[now_ts]
    ready_at: Mapped[datetime | None]


def create_report(
    *,
    session: Session,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    format: str,
    filters: dict[str, Any],
    schedule_id: uuid.UUID | None = None,
) -> Report:
    report = Report(
        org_id=org_id,
        created_by=user_id,
        format=format,
        filters=filters,
        schedule_id=schedule_id,
    )
    session.add(report)
    session.flush()
    return report


def report_of(*, session: Session, org_id: uuid.UUID, report_id: uuid.UUID) -> Report:
    report = session.scalar(select(Report).where(Report.id == report_id, Report.org_id == org_id))
    if report is None:
        raise NotFound("no such report", details={"report_id": str(report_id)})
    return report


def report_rows(
    *, session: Session, org_id: uuid.UUID, since: datetime | None, until: datetime | None
) -> Iterator[list[Any]]:
    """The report's rows (COLUMNS), oldest lead first, read a batch at a time."""
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        query = select(Lead).where(Lead.org_id == org_id)
        if since is not None:
            query = query.where(Lead.created_at >= since)
        if until is not None:
            query = query.where(Lead.created_at < until)
        if after is not None:
            query = query.where(tuple_(Lead.created_at, Lead.id) > tuple_(*after))
        batch = list(session.scalars(query.order_by(Lead.created_at, Lead.id).limit(BATCH)))
        for lead in batch:
            yield [safe_cell(v) for v in _row(lead)]
        if len(batch) < BATCH:
            return
        after = (batch[-1].created_at, batch[-1].id)


def safe_cell(value: Any) -> Any:
    """Text a spreadsheet will not run as a formula (a found page chose some of it)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _row(lead: Lead) -> list[Any]:
    return [
        lead.domain,
        lead.company_name,
        lead.status.value,
        lead.score,
        "; ".join(lead.emails),
        "; ".join(lead.phones),
        "; ".join(lead.social),
        "; ".join(lead.tags),
        lead.source,
        lead.source_url or "",
        lead.created_at.isoformat(),
    ]


def mark_ready(
    *, session: Session, report_id: uuid.UUID, storage_key: str, size: int, rows: int
) -> bool:
    """Record the written file; True the first time (a retried job writes it again)."""
    report = session.get_one(Report, report_id, with_for_update=True)
    first = report.ready_at is None
    report.storage_key, report.size, report.rows = storage_key, size, rows
    report.ready_at = utcnow()
    return first
