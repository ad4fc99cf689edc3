"""The leads domain's job kinds.

`leads.strategy`: a goal becomes a search strategy, written by OpenAI as structured output
(workers/clients/openai.py), stored with the tokens it cost; then the goal's search starts.
`leads.search`: the strategy's queries run on Brave Search (workers/clients/brave.py), the
pages found are fetched (public addresses only, size and time caps, robots.txt), their contact
details extracted, scored, and kept as one lead per company domain.

A goal's end (`leads.search.finished`) and a report's first readiness (`leads.report.ready`)
go to the organisation's subscribed webhook endpoints (workers/webhooks.py), in the
transaction that records them and keyed by the goal or report, so once however often a job
runs.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import Any

import openpyxl
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import leads
from models.accounts import User
from models.core.fields import Text
from models.leads import GoalStatus
from workers.clients import dns
from workers.clients.brave import Brave
from workers.clients.neverbounce import NeverBounce
from workers.clients.openai import structured
from workers.clients.pages import Fetcher, PageSkipped
from workers.core import enqueue
from workers.core.context import JobContext
from workers.core.errors import JobCancelled, PermanentError
from workers.core.periodic import periodic
from workers.core.registry import get_kind, job_kind
from workers.core.storage import storage
from workers.webhooks import notify

MAX_QUERIES = 10
SEARCH_FINISHED = "leads.search.finished"
REPORT_READY = "leads.report.ready"

STRATEGY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["queries", "include_sites", "avoid_sites", "signals"],
    "properties": {
        "queries": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_QUERIES,
            "items": {"type": "string", "minLength": 1, "maxLength": 400},
            "description": "web search queries that find companies matching the goal",
        },
        "include_sites": {
            "type": "array",
            "maxItems": 10,
            "items": {"type": "string", "maxLength": 253},
            "description": "domains worth searching within (directories, associations)",
        },
        "avoid_sites": {
            "type": "array",
            "maxItems": 20,
            "items": {"type": "string", "maxLength": 253},
            "description": "domains whose pages are never leads (marketplaces, news, social)",
        },
        "signals": {
            "type": "array",
            "minItems": 1,
            "maxItems": 10,
            "items": {"type": "string", "minLength": 1, "maxLength": 100},
            "description": "words on a company's page that make it a good lead",
        },
    },
}

SYSTEM_PROMPT = (
    "You plan web searches that find companies to sell to. Given a business goal, answer "
    "with search queries that find the websites of matching companies (not lists or news "
    "about them), sites to search within or avoid, and the words on a company's own page "
    "that show it fits."
)


# Tokens a strategy needs left in the month's budget before one is asked for.
STRATEGY_TOKENS = 2_000


class BudgetExceeded(PermanentError):
    """The organisation's lead search budget for the month is spent: nothing more is spent."""


def _check_budget(ctx: JobContext, org_id: uuid.UUID, **wanted: int) -> None:
    with ctx.sessions() as session:
        try:
            leads.check_budget(session=session, org_id=org_id, **wanted)
        except leads.BudgetExceeded as exc:
            raise BudgetExceeded(f"budget_exceeded: {exc.message}") from exc


class GoalParams(Schema):
    goal_id = fields.UUID(required=True)


def _goal_prompt(goal: leads.Goal) -> str:
    return "\n".join(
        f"{label}: {value}"
        for label, value in (
            ("Business goal", goal.goal),
            ("Target market", goal.target_market),
            ("Location", goal.location),
            ("Ideal customer", goal.ideal_customer),
            ("Leads wanted", str(goal.lead_count)),
        )
        if value
    )


def _load_goal(ctx: JobContext, goal_id: uuid.UUID) -> leads.Goal:
    with ctx.sessions() as session:
        goal = session.get(leads.Goal, goal_id)
        # Another organisation's goal is as unknown as a missing one (the jobs API takes any
        # params this kind's schema allows).
        if goal is None or goal.org_id != ctx.org_id:
            raise PermanentError(f"no goal {goal_id} in this organization")
        session.expunge(goal)
        return goal


def _end_goal(
    ctx: JobContext,
    session: Session,
    goal: leads.Goal,
    status: GoalStatus,
    outcome: dict[str, Any] | None = None,
) -> None:
    """Record the goal's end and tell the organisation's endpoints, in one transaction. The
    goal's id is the event's key: a job that runs again sends nothing more."""
    leads.set_status(session=session, goal_id=goal.id, status=status)
    notify(
        session=session,
        dispatcher=ctx.dispatcher,
        org_id=goal.org_id,
        event_type=SEARCH_FINISHED,
        data={"goal_id": str(goal.id), "status": status.value, **(outcome or {})},
        key=f"{SEARCH_FINISHED}:{goal.id}",
    )


@job_kind(
    "leads.strategy",
    params=GoalParams,
    queue="leads",
    requires_verified_email=True,
    max_attempts=4,
    time_limit_ms=5 * 60 * 1000,
    min_backoff_ms=2000,
)
def write_strategy(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Write a goal's search strategy with OpenAI, then start its search."""
    goal = _load_goal(ctx, params["goal_id"])
    if goal.strategy is not None:  # a repeated delivery: written already
        return {"goal_id": str(goal.id), "model": goal.model}
    ctx.progress(0, 1, "asking for a strategy")
    try:
        _check_budget(ctx, goal.org_id, tokens=STRATEGY_TOKENS)
    except BudgetExceeded:
        with ctx.sessions.begin() as session:
            _end_goal(ctx, session, goal, GoalStatus.FAILED)
        raise
    try:
        answer = structured(
            ctx.settings,
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": _goal_prompt(goal)},
            ],
            name="lead_strategy",
            schema=STRATEGY_SCHEMA,
        )
    except PermanentError:
        with ctx.sessions.begin() as session:
            _end_goal(ctx, session, goal, GoalStatus.FAILED)
        raise
    search_kind = get_kind("leads.search")
    if search_kind is None:
        raise PermanentError("no leads.search kind is declared")
    with ctx.sessions.begin() as session:
        stored = leads.store_strategy(
            session=session,
            goal_id=goal.id,
            strategy=answer.data,
            model=answer.model,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
        )
        leads.record_spending(
            session=session,
            org_id=goal.org_id,
            tokens=answer.prompt_tokens + answer.completion_tokens,
        )
        if stored.created_by is not None:
            search, _ = enqueue.submit(
                session=session,
                dispatcher=ctx.dispatcher,
                owner_id=stored.created_by,
                org_id=stored.org_id,
                kind=search_kind,
                params={"goal_id": str(goal.id)},
                idempotency_key=f"leads.search:{goal.id}",
                internal=True,  # part of the goal the organisation already paid a job for
            )
            stored.search_job_id = search.id
        else:
            _end_goal(ctx, session, stored, GoalStatus.FAILED)
    return {
        "goal_id": str(goal.id),
        "model": answer.model,
        "queries": len(answer.data["queries"]),
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
    }


def _usable(url: str, avoid: list[str]) -> str | None:
    """The result's company domain, unless the strategy says to avoid it."""
    domain = leads.company_domain(url)
    if domain is None:
        return None
    avoided = (a.lower().removeprefix("www.").strip() for a in avoid)
    if any(a and (domain == a or domain.endswith("." + a)) for a in avoided):
        return None
    return domain


def _run_queries(ctx: JobContext, goal: leads.Goal, state: dict[str, Any]) -> None:
    strategy = goal.strategy or {}
    queries = strategy["queries"][: ctx.settings.leads_max_queries]
    pages = ctx.settings.leads_pages_per_query
    with Brave(ctx.settings) as brave:
        for index in range(state["query"], len(queries)):
            ctx.progress(index, len(queries), f"query {index + 1} of {len(queries)}")
            paid = 0
            for page in range(pages):
                found = brave.search(
                    queries[index],
                    page=page,
                    before_paid_call=lambda: _check_budget(ctx, goal.org_id, searches=1),
                )
                if not found.cached:
                    paid += 1
                    with ctx.sessions.begin() as session:
                        leads.record_spending(session=session, org_id=goal.org_id, searches=1)
                with ctx.sessions.begin() as session:
                    leads.store_results(
                        session=session,
                        goal_id=goal.id,
                        query=queries[index],
                        altered_query=found.altered,
                        results=[
                            leads.FoundResult(r.url, r.title, r.description, page * 20 + rank)
                            for rank, r in enumerate(found.results)
                        ],
                    )
                if not found.more_available:
                    break
            with ctx.sessions.begin() as session:
                leads.count_searches(session=session, goal_id=goal.id, paid=paid)
            state = {"phase": "queries", "query": index + 1}
            ctx.save_checkpoint(state)
        ctx.progress(len(queries), len(queries), "queries done")


def _best_per_domain(
    results: list[leads.SearchResult], avoid: list[str]
) -> list[tuple[str, leads.SearchResult]]:
    best: dict[str, leads.SearchResult] = {}
    for result in results:  # best ranked first
        domain = _usable(result.url, avoid)
        if domain is not None and domain not in best:
            best[domain] = result
    return list(best.items())


def _lead_from(
    fetcher: Fetcher, domain: str, result: leads.SearchResult, signals: list[str]
) -> leads.FoundLead:
    try:
        contacts = leads.extract(fetcher.fetch(result.url))
    except PageSkipped as exc:
        contacts = leads.Contacts()
        reason = str(exc)
    else:
        reason = ""
    evidence = leads.Evidence(
        emails=contacts.emails,
        phones=contacts.phones,
        social=contacts.social,
        company_name=contacts.company_name,
        text=" ".join([contacts.text, result.title.lower(), result.description.lower()]),
        rank=result.rank,
    )
    points, reasons = leads.score(evidence, signals)
    if reason:
        reasons.append(f"page not read: {reason[:200]}")
    return leads.FoundLead(
        domain=domain,
        company_name=contacts.company_name or result.title[:200],
        emails=contacts.emails,
        phones=contacts.phones,
        social=contacts.social,
        source_url=result.url,
        score=points,
        score_reasons=reasons,
    )


def _make_leads(ctx: JobContext, goal: leads.Goal, state: dict[str, Any]) -> dict[str, int]:
    strategy = goal.strategy or {}
    with ctx.sessions() as session:
        results = leads.results_of(session=session, goal_id=goal.id)
        session.expunge_all()
    candidates = _best_per_domain(results, strategy.get("avoid_sites", []))
    candidates = candidates[: goal.lead_count]
    made, merged = state.get("made", 0), state.get("merged", 0)
    with Fetcher(ctx.settings) as fetcher:
        for index in range(state.get("page", 0), len(candidates)):
            ctx.progress(index, len(candidates), f"page {index + 1} of {len(candidates)}")
            domain, result = candidates[index]
            found = _lead_from(fetcher, domain, result, strategy.get("signals", []))
            with ctx.sessions.begin() as session:
                _, created = leads.save_found_lead(
                    session=session, org_id=goal.org_id, goal_id=goal.id, found=found
                )
            made, merged = made + created, merged + (not created)
            ctx.save_checkpoint(
                {"phase": "pages", "page": index + 1, "made": made, "merged": merged}
            )
    ctx.progress(len(candidates), len(candidates), "pages done")
    return {
        "results": len(results),
        "pages": len(candidates),
        "new_leads": made,
        "merged_leads": merged,
    }


def _search(ctx: JobContext, goal: leads.Goal) -> dict[str, int]:
    state = ctx.checkpoint or {"phase": "queries", "query": 0}
    if state["phase"] == "queries":
        _run_queries(ctx, goal, state)
        state = {"phase": "pages", "page": 0}
        ctx.save_checkpoint(state)
    return _make_leads(ctx, goal, state)


@job_kind(
    "leads.search",
    params=GoalParams,
    queue="leads",
    requires_verified_email=True,
    max_attempts=6,
    time_limit_ms=30 * 60 * 1000,
    min_backoff_ms=2000,
)
def run_search(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Run a goal's strategy on Brave Search and keep what it finds as scored leads."""
    goal = _load_goal(ctx, params["goal_id"])
    if goal.strategy is None:
        raise PermanentError("the goal has no strategy yet")
    try:
        outcome = _search(ctx, goal)
    except (BudgetExceeded, JobCancelled) as exc:
        status = GoalStatus.CANCELLED if isinstance(exc, JobCancelled) else GoalStatus.FAILED
        with ctx.sessions.begin() as session:
            _end_goal(ctx, session, goal, status)
        raise
    validate_kind = get_kind("leads.validate")
    with ctx.sessions.begin() as session:
        stored = leads.goal_of(session=session, org_id=goal.org_id, goal_id=goal.id)
        searches = stored.searches
        _end_goal(ctx, session, goal, GoalStatus.DONE, {"searches": searches, **outcome})
        if validate_kind is not None and stored.created_by is not None:
            # The found addresses are checked as soon as they are known.
            enqueue.submit(
                session=session,
                dispatcher=ctx.dispatcher,
                owner_id=stored.created_by,
                org_id=stored.org_id,
                kind=validate_kind,
                params={"goal_id": str(goal.id)},
                idempotency_key=f"leads.validate:{goal.id}",
                internal=True,
            )
    return {"goal_id": str(goal.id), "searches": searches, **outcome}


MAX_VALIDATE = 500


class ValidateParams(Schema):
    lead_ids = fields.List(fields.UUID(), validate=validate.Length(min=1, max=MAX_VALIDATE))
    goal_id = fields.UUID()
    force = fields.Boolean(load_default=False)  # check again even fresh verdicts

    @validates_schema
    def _one_of(self, data: dict[str, Any], **_: Any) -> None:
        if ("lead_ids" in data) == ("goal_id" in data):
            raise ValidationError("give either lead_ids or goal_id", "lead_ids")


def _leads_to_check(ctx: JobContext, params: dict[str, Any]) -> list[tuple[uuid.UUID, list[str]]]:
    query = select(leads.Lead.id, leads.Lead.emails).where(leads.Lead.org_id == ctx.org_id)
    if "goal_id" in params:
        query = query.where(leads.Lead.goal_id == params["goal_id"])
    else:
        query = query.where(leads.Lead.id.in_(params["lead_ids"]))
    with ctx.sessions() as session:
        return [
            (row.id, list(row.emails)) for row in session.execute(query.order_by(leads.Lead.id))
        ]


@job_kind(
    "leads.validate",
    params=ValidateParams,
    queue="leads",
    max_attempts=4,
    time_limit_ms=30 * 60 * 1000,
)
def validate_leads(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Check the e-mail addresses of leads: syntax, the domain's MX, disposable and role."""
    todo = _leads_to_check(ctx, params)
    with ExitStack() as stack:
        provider = (
            stack.enter_context(NeverBounce(ctx.settings))
            if ctx.settings.neverbounce_api_key
            else None
        )
        counts = _check_all(ctx, params, todo, provider)
    return {"leads": len(todo), "verdicts": counts}


def _check_all(
    ctx: JobContext,
    params: dict[str, Any],
    todo: list[tuple[uuid.UUID, list[str]]],
    provider: NeverBounce | None,
) -> dict[str, int]:
    max_age = timedelta(days=ctx.settings.leads_verdict_max_age_days)
    found = dns.resolver(ctx.settings)
    seen: dict[str, leads.MxAnswer] = {}
    counts: dict[str, int] = {}
    start = (ctx.checkpoint or {}).get("lead", 0)
    for index in range(start, len(todo)):
        ctx.progress(index, len(todo), f"lead {index + 1} of {len(todo)}")
        lead_id, emails = todo[index]
        for email in emails:
            with ctx.sessions() as session:
                if not params["force"] and leads.is_fresh(
                    session=session, lead_id=lead_id, email=email, max_age=max_age
                ):
                    counts["fresh"] = counts.get("fresh", 0) + 1
                    continue
            domain = email.rsplit("@", 1)[-1].lower()
            if domain not in seen:
                hosts, error, transient = dns.mail_servers(found, domain)
                seen[domain] = leads.MxAnswer(hosts, error, transient)
            verdict, reasons = leads.judge(email, seen[domain])
            source = "syntax+mx"
            if provider is not None and verdict in (leads.Verdict.VALID, leads.Verdict.RISKY):
                result = provider.check(email)  # a throttle retries the job from here
                verdict, reasons = leads.with_provider(verdict, reasons, "neverbounce", result)
                source = "syntax+mx+neverbounce"
            with ctx.sessions.begin() as session:
                leads.record_check(
                    session=session,
                    lead_id=lead_id,
                    email=email,
                    verdict=verdict,
                    reasons=reasons,
                    source=source,
                )
            counts[verdict.value] = counts.get(verdict.value, 0) + 1
        ctx.save_checkpoint({"lead": index + 1})
    ctx.progress(len(todo), len(todo), "checked")
    return counts


class ReportParams(Schema):
    report_id = fields.UUID(required=True)


def _write_report(path: str, fmt: str, rows: Iterator[list[Any]]) -> int:
    count = 0
    if fmt == "csv":
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(leads.COLUMNS)
            for row in rows:
                writer.writerow(row)
                count += 1
        return count
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Leads")
    sheet.append(list(leads.COLUMNS))
    for row in rows:
        sheet.append(row)
        count += 1
    book.save(path)
    return count


@job_kind("leads.report", params=ReportParams, queue="leads", max_attempts=3)
def write_report(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Write an organisation's leads as a CSV or XLSX file, ready to download."""
    with ctx.sessions() as session:
        report = session.get(leads.Report, params["report_id"])
        if report is None or report.org_id != ctx.org_id:
            raise PermanentError(f"no report {params['report_id']} in this organization")
        fmt, filters, org_id = report.format, dict(report.filters), report.org_id
    since = datetime.fromisoformat(filters["since"]) if filters.get("since") else None
    until = datetime.fromisoformat(filters["until"]) if filters.get("until") else None
    key = f"leads/{org_id}/reports/{params['report_id']}.{fmt}"
    ctx.progress(0, None, "writing")
    with tempfile.TemporaryDirectory() as tmp, ctx.sessions() as session:
        path = os.path.join(tmp, f"report.{fmt}")
        count = _write_report(
            path, fmt, leads.report_rows(session=session, org_id=org_id, since=since, until=until)
        )
        with open(path, "rb") as source:
            stored = storage(ctx.settings).put(key, source)
    with ctx.sessions.begin() as session:
        first = leads.mark_ready(
            session=session,
            report_id=params["report_id"],
            storage_key=stored.key,
            size=stored.size,
            rows=count,
        )
        if first:
            ready = session.get_one(leads.Report, params["report_id"])
            _mail_scheduled_report(ctx, session, ready, count)
            _announce_report(ctx, session, ready)
    return {"report_id": str(params["report_id"]), "rows": count, "bytes": stored.size}


def _download_url(ctx: JobContext, report: leads.Report) -> str:
    return f"{ctx.settings.public_base_url}/api/v1/leads/analytics/reports/{report.id}/download"


def _announce_report(ctx: JobContext, session: Session, report: leads.Report) -> None:
    """Tell the organisation's endpoints the report is ready: a link, not the file."""
    notify(
        session=session,
        dispatcher=ctx.dispatcher,
        org_id=report.org_id,
        event_type=REPORT_READY,
        data={
            "report_id": str(report.id),
            "format": report.format,
            "rows": report.rows,
            "bytes": report.size,
            "schedule_id": str(report.schedule_id) if report.schedule_id else None,
            "download_url": _download_url(ctx, report),
        },
        key=f"{REPORT_READY}:{report.id}",
    )


def _mail_scheduled_report(
    ctx: JobContext, session: Session, report: leads.Report, rows: int
) -> None:
    """Send the requester of a scheduled report a link to it (not the file): queued in the
    transaction that marks it ready, the first time only, so it is mailed once."""
    kind = get_kind("email.send")
    requester = session.get(User, report.created_by) if report.created_by else None
    if report.schedule_id is None or requester is None or kind is None:
        return
    link = _download_url(ctx, report)
    covers = " to ".join(str(report.filters.get(k, "")) for k in ("since", "until"))
    enqueue.submit(
        session=session,
        dispatcher=ctx.dispatcher,
        owner_id=requester.id,
        org_id=report.org_id,
        kind=kind,
        params={
            "to": [requester.email],
            "subject": "Your scheduled leads report is ready",
            "text": (
                f"Your {report.format.upper()} report of leads ({covers}) is ready: "
                f"{rows} leads.\n\nDownload it (signed in): {link}\n"
            ),
        },
        internal=True,  # the platform's notice, not a job the user submitted
    )


SCHEDULE_BATCH = 200


@periodic("leads.scheduled_reports", cron="5 * * * *", queue="leads")  # UTC, hourly
def scheduled_reports(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Submit each due schedule's report for the period the slot falls in, once per period.
    Hourly, so a period's reports go out within the hour it begins, or at the first run after
    an outage."""
    slot: datetime = params["slot"]
    kind = get_kind("leads.report")
    assert kind is not None  # noqa: S101 - declared above
    submitted = skipped = 0
    for frequency in leads.Frequency:
        period = leads.period_at(frequency, slot)
        while True:
            with ctx.sessions.begin() as session:
                due = leads.claim_due(
                    session=session, frequency=frequency, period=period, limit=SCHEDULE_BATCH
                )
                for schedule in due:
                    if not leads.still_member(session=session, schedule=schedule):
                        skipped += 1  # the requester left: nobody to send it to
                        continue
                    assert schedule.created_by is not None  # noqa: S101 - still_member
                    report = leads.create_report(
                        session=session,
                        org_id=schedule.org_id,
                        user_id=schedule.created_by,
                        format=schedule.format,
                        filters={
                            "since": period.previous.isoformat(),
                            "until": period.start.isoformat(),
                        },
                        schedule_id=schedule.id,
                    )
                    job, _ = enqueue.submit(
                        session=session,
                        dispatcher=ctx.dispatcher,
                        owner_id=schedule.created_by,
                        org_id=schedule.org_id,
                        kind=kind,
                        params={"report_id": str(report.id)},
                        idempotency_key=f"leads.report:{schedule.id}:{period.day}",
                        internal=True,  # the organisation asked for it by scheduling it
                    )
                    report.job_id = job.id
                    submitted += 1
            if len(due) < SCHEDULE_BATCH:
                break
    return {"submitted": submitted, "skipped": skipped}


IMPORT_COLUMNS = ("domain", "company_name", "emails", "phones", "tags", "status", "notes")
MAX_IMPORT_ERRORS = 50


class ImportParams(Schema):
    key = Text(
        required=True, validate=validate.Regexp(r"^leads/[0-9a-f-]{36}/imports/[0-9a-f]{32}\.csv$")
    )


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").replace(",", ";").split(";") if v.strip()]


def _import_row(row: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The row's domain and values; ValueError naming what is wrong."""
    raw = (row.get("domain") or "").strip()
    domain = leads.company_domain(f"https://{raw}/")
    if not raw or domain != raw.lower().removeprefix("www."):
        raise ValueError(f"domain {raw[:100]!r} is not a domain name")
    emails = [e.lower() for e in _split(row.get("emails"))][:10]
    bad = [e for e in emails if leads.judge(e, None)[0] == leads.Verdict.INVALID]
    if bad:
        raise ValueError(f"not an e-mail address: {bad[0][:100]!r}")
    status = (row.get("status") or "new").strip().lower()
    if status not in {s.value for s in leads.LeadStatus}:
        raise ValueError(f"status {status[:30]!r} is not one of new, contacted, qualified, ...")
    values = {
        "company_name": (row.get("company_name") or "").strip()[:200],
        "emails": emails,
        "phones": _split(row.get("phones"))[:10],
        "tags": [t[:50] for t in _split(row.get("tags"))][:20],
        "status": leads.LeadStatus(status),
        "notes": (row.get("notes") or "")[:5000],
    }
    return domain, values


@job_kind("leads.import", params=ImportParams, queue="leads", max_attempts=3)
def import_leads(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Create leads from an uploaded CSV file, one per new domain, each scored."""
    org_id = ctx.org_id
    if org_id is None or not params["key"].startswith(f"leads/{org_id}/imports/"):
        raise PermanentError("the file belongs to another organization")
    state = ctx.checkpoint or {"line": 1, "created": 0, "duplicates": 0, "errors": []}
    with storage(ctx.settings).open(params["key"]) as raw:
        lines = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.DictReader(lines)
        missing = {"domain"} - set(reader.fieldnames or ())
        if missing:
            raise PermanentError("the file has no 'domain' column (the first line names them)")
        for row in reader:
            line = reader.line_num
            if line <= state["line"]:
                continue  # done by an earlier attempt
            try:
                domain, values = _import_row(row)
            except ValueError as exc:
                if len(state["errors"]) < MAX_IMPORT_ERRORS:
                    state["errors"].append({"line": line, "error": str(exc)})
                state["invalid"] = state.get("invalid", 0) + 1
            else:
                points, reasons = leads.score(
                    leads.Evidence(
                        emails=values["emails"],
                        phones=values["phones"],
                        company_name=values["company_name"],
                    ),
                    signals=[],
                )
                with ctx.sessions.begin() as session:
                    try:
                        leads.create_lead(
                            session=session,
                            org_id=org_id,
                            actor_id=None,
                            domain=domain,
                            values=values,
                            score=points,
                            score_reasons=reasons,
                        )
                        state["created"] += 1
                    except leads.LeadExists:
                        state["duplicates"] += 1
            state["line"] = line
            if line % 200 == 0:
                ctx.save_checkpoint(state)
                ctx.progress(line, None, f"{line} lines read")
    storage(ctx.settings).delete(params["key"])
    return {k: state.get(k, 0) for k in ("created", "duplicates", "invalid")} | {
        "errors": state["errors"]
    }
