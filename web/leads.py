"""/api/v1/leads: goals that become searches, and the leads they find.

POST /goals stores a goal and answers 202 with it and the `leads.strategy` job that writes its
search strategy (the search follows by itself); follow the job at /api/v1/jobs/<id> or the goal
here. Leads are listed with filters and a cursor, created by hand, and edited with every change
kept in the lead's history. Another organisation's goal or lead answers 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, BinaryIO, cast

from flask import Response, g, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates

from models import leads
from models.core.base import utcnow
from models.core.errors import Conflict, InvalidInput
from models.leads import MAX_LEADS_PER_GOAL, GoalStatus, LeadStatus
from models.mail import Trigger, enrol_on_event
from web.core import limits
from web.core.auth import BEARER, auth_required, current_org_id, current_viewer
from web.core.context import db, platform
from web.core.fields import BigInt, Email, Text, Url
from web.core.job_schemas import JobRead
from web.core.uploads import accepts_upload, uploaded_file
from workers.core import enqueue, registry
from workers.core.storage import storage

blp = Blueprint("leads", __name__, url_prefix="/api/v1/leads", description="Lead search and leads.")


# -- schemas ---------------------------------------------------------------------------------
def _text(max_length: int, **kwargs: Any) -> Text:
    return Text(validate=validate.Length(max=max_length), **kwargs)


class GoalCreate(Schema):
    goal = Text(required=True, validate=validate.Length(min=3, max=2000))
    target_market = _text(500, load_default="")
    location = _text(200, load_default="")
    ideal_customer = _text(1000, load_default="")
    lead_count = BigInt(load_default=25, validate=validate.Range(min=1, max=MAX_LEADS_PER_GOAL))


class GoalRead(Schema):
    id = fields.UUID(required=True)
    goal = Text(required=True)
    target_market = Text(required=True)
    location = Text(required=True)
    ideal_customer = Text(required=True)
    lead_count = BigInt(required=True)
    status = fields.Enum(GoalStatus, by_value=True, required=True)
    strategy = fields.Dict(allow_none=True, metadata={"description": "Once written."})
    model = Text(allow_none=True, metadata={"description": "The model that wrote it."})
    prompt_tokens = BigInt(required=True)
    completion_tokens = BigInt(required=True)
    searches = BigInt(required=True, metadata={"description": "Search calls paid for."})
    strategy_job_id = fields.UUID(allow_none=True)
    search_job_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime(required=True)


class GoalStarted(Schema):
    goal = fields.Nested(GoalRead, required=True)
    job = fields.Nested(JobRead, required=True)


class ResultRead(Schema):
    query = Text(required=True)
    altered_query = Text(
        allow_none=True, metadata={"description": "The query as the search engine spelled it."}
    )
    rank = BigInt(required=True)
    url = Text(required=True)
    title = Text(required=True)
    description = Text(required=True)


class ResultList(Schema):
    items = fields.List(fields.Nested(ResultRead), required=True)


class PageQuery(Schema):
    cursor = Text(validate=validate.Length(max=200))
    limit = BigInt(load_default=20, validate=validate.Range(min=1, max=100))


class GoalPage(Schema):
    items = fields.List(fields.Nested(GoalRead), required=True)
    next_cursor = Text(allow_none=True)


class LeadQuery(PageQuery):
    status = fields.Enum(LeadStatus, by_value=True)
    min_score = BigInt(validate=validate.Range(min=0, max=100))
    source = Text(validate=validate.OneOf(["search", "manual"]))
    goal_id = fields.UUID()
    tag = _text(50)
    validated = fields.Boolean(metadata={"description": "Has an address checked valid."})
    created_after = fields.AwareDateTime()
    created_before = fields.AwareDateTime()


class LeadRead(Schema):
    id = fields.UUID(required=True)
    domain = Text(required=True)
    company_name = Text(required=True)
    emails = fields.List(Text(), required=True)
    phones = fields.List(Text(), required=True)
    social = fields.List(Text(), required=True)
    source = Text(required=True)
    source_url = Text(allow_none=True)
    goal_id = fields.UUID(allow_none=True)
    score = BigInt(required=True)
    score_reasons = fields.List(Text(), required=True)
    status = fields.Enum(LeadStatus, by_value=True, required=True)
    tags = fields.List(Text(), required=True)
    notes = Text(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class LeadPage(Schema):
    items = fields.List(fields.Nested(LeadRead), required=True)
    next_cursor = Text(allow_none=True)


class ChangeRead(Schema):
    actor_id = fields.UUID(allow_none=True, metadata={"description": "null: a search job."})
    changed_at = fields.DateTime(required=True)
    before = fields.Dict(required=True)
    after = fields.Dict(required=True)


class EmailCheckRead(Schema):
    email = Text(required=True)
    verdict = Text(required=True, metadata={"description": "valid, risky, invalid, unknown"})
    reasons = fields.List(Text(), required=True)
    source = Text(required=True)
    checked_at = fields.DateTime(required=True)


class InteractionCreate(Schema):
    kind = Text(required=True, validate=validate.OneOf(leads.KINDS))
    body = Text(required=True, validate=validate.Length(min=1, max=10_000))
    happened_at = fields.AwareDateTime(metadata={"description": "Default: now."})


class InteractionRead(Schema):
    id = BigInt(required=True)
    actor_id = fields.UUID(allow_none=True)
    kind = Text(required=True)
    body = Text(required=True)
    happened_at = fields.DateTime(required=True)
    created_at = fields.DateTime(required=True)


class LeadDetail(LeadRead):
    history = fields.List(fields.Nested(ChangeRead), required=True)
    timeline = fields.List(
        fields.Nested(InteractionRead), required=True, metadata={"description": "Newest first."}
    )
    email_checks = fields.List(fields.Nested(EmailCheckRead), required=True)


class ValidateRequest(Schema):
    lead_ids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=500))
    force = fields.Boolean(load_default=False, metadata={"description": "Check fresh ones too."})


class ValidateStarted(Schema):
    job = fields.Nested(JobRead, required=True)


class LeadFields(Schema):
    company_name = _text(200)
    emails = fields.List(Email(), validate=validate.Length(max=10))
    phones = fields.List(
        Text(validate=validate.Regexp(r"^\+?[0-9 ().-]{6,25}$")), validate=validate.Length(max=10)
    )
    social = fields.List(Url(schemes={"https", "http"}), validate=validate.Length(max=10))
    status = fields.Enum(LeadStatus, by_value=True)
    tags = fields.List(
        Text(validate=validate.Length(min=1, max=50)), validate=validate.Length(max=20)
    )
    notes = _text(5000)


class LeadCreate(LeadFields):
    domain = Text(required=True, validate=validate.Length(min=3, max=253))

    @validates("domain")
    def _domain(self, value: str, **_: Any) -> None:
        if leads.company_domain(f"https://{value}/") != value.lower().removeprefix("www."):
            raise ValidationError("must be a domain name such as example.com")


class LeadUpdate(LeadFields):
    pass


class LeadSpent(Schema):
    used = BigInt(required=True)
    budget = BigInt(allow_none=True, metadata={"description": "null: unlimited."})


class LeadUsageRead(Schema):
    tier = Text(required=True)
    month = fields.Date(required=True, metadata={"description": "Its first day (UTC)."})
    resets_at = fields.DateTime(required=True)
    tokens = fields.Nested(LeadSpent, required=True, metadata={"description": "OpenAI tokens."})
    searches = fields.Nested(LeadSpent, required=True, metadata={"description": "Paid searches."})


class OverviewQuery(Schema):
    since = fields.AwareDateTime(metadata={"description": "Default: 30 days ago."})
    until = fields.AwareDateTime(metadata={"description": "Default: now."})


class OverviewRead(Schema):
    since = fields.DateTime(required=True)
    until = fields.DateTime(required=True)
    leads = BigInt(required=True, metadata={"description": "Created in the range."})
    by_status = fields.Dict(keys=Text(), values=BigInt(), required=True)
    by_source = fields.Dict(keys=Text(), values=BigInt(), required=True)
    by_day = fields.Function(
        lambda o: [{"day": d.isoformat(), "leads": n} for d, n in o.by_day], required=True
    )
    conversion_rate = fields.Decimal(as_string=True, required=True)
    verdicts = fields.Dict(keys=Text(), values=BigInt(), required=True)
    valid_rate = fields.Decimal(as_string=True, required=True)
    tokens = BigInt(required=True, metadata={"description": "In the range's months."})
    searches = BigInt(required=True)
    tokens_per_lead = fields.Decimal(as_string=True, allow_none=True)
    searches_per_lead = fields.Decimal(as_string=True, allow_none=True)


class ReportCreate(Schema):
    format = Text(required=True, validate=validate.OneOf(leads.FORMATS))
    since = fields.AwareDateTime()
    until = fields.AwareDateTime()


class ReportRead(Schema):
    id = fields.UUID(required=True)
    format = Text(required=True)
    filters = fields.Dict(required=True)
    job_id = fields.UUID(allow_none=True)
    ready = fields.Function(lambda r: r.storage_key is not None, required=True)
    rows = BigInt(allow_none=True)
    size = BigInt(allow_none=True, metadata={"description": "Bytes, once ready."})
    created_at = fields.DateTime(required=True)
    ready_at = fields.DateTime(allow_none=True)


class ReportStarted(Schema):
    report = fields.Nested(ReportRead, required=True)
    job = fields.Nested(JobRead, required=True)


class ReportScheduleCreate(Schema):
    frequency = Text(
        required=True,
        validate=validate.OneOf([f.value for f in leads.Frequency]),
        metadata={"description": "weekly (Mondays, UTC) or monthly (the 1st, UTC)."},
    )
    format = Text(required=True, validate=validate.OneOf(leads.FORMATS))


class ReportScheduleRead(Schema):
    id = fields.UUID(required=True)
    frequency = Text(required=True)
    format = Text(required=True)
    created_by = fields.UUID(
        allow_none=True, metadata={"description": "Who is mailed each report's link."}
    )
    last_period = fields.Date(
        required=True, metadata={"description": "The start of the last period submitted."}
    )
    created_at = fields.DateTime(required=True)


class ReportScheduleList(Schema):
    items = fields.List(fields.Nested(ReportScheduleRead), required=True)


MEDIA_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class NotificationQuery(Schema):
    before = BigInt(
        validate=validate.Range(min=1), metadata={"description": "The last id of a page."}
    )
    limit = BigInt(load_default=20, validate=validate.Range(min=1, max=100))


class NotificationRead(Schema):
    id = BigInt(required=True)
    lead_id = fields.UUID(required=True)
    domain = Text(required=True)
    actor_id = fields.UUID(allow_none=True, metadata={"description": "null: a job."})
    changed_at = fields.DateTime(required=True)
    fields_ = fields.List(Text(), data_key="fields", attribute="fields", required=True)
    before = fields.Dict(required=True)
    after = fields.Dict(required=True)


class NotificationList(Schema):
    items = fields.List(fields.Nested(NotificationRead), required=True)


def _detail(lead: leads.Lead) -> dict[str, Any]:
    out = {name: getattr(lead, name) for name in LeadRead._declared_fields}
    out["history"] = leads.history_of(session=db(), lead_id=lead.id)
    out["email_checks"] = leads.checks_of(session=db(), lead_id=lead.id)
    out["timeline"] = leads.timeline_of(session=db(), lead_id=lead.id)
    return out


# -- views -----------------------------------------------------------------------------------
@blp.route("/goals")
class Goals(MethodView):
    @limits.per_user("rate_limit_leads_goals")
    @blp.arguments(GoalCreate)
    @blp.response(202, GoalStarted)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Store a business goal and start writing its search strategy (202 with the job)"""
        viewer = current_viewer()
        kind = registry.kind_for("leads.strategy", viewer)
        leads.check_budget(session=db(), org_id=current_org_id(), tokens=1, searches=1)
        goal = leads.create_goal(
            session=db(),
            org_id=current_org_id(),
            user_id=viewer.user_id,
            new=leads.NewGoal(**body),
        )
        job, _ = enqueue.submit(
            session=db(),
            dispatcher=platform().dispatcher,
            owner_id=viewer.user_id,
            org_id=goal.org_id,
            kind=kind,
            params={"goal_id": str(goal.id)},
            request_id=g.request_id,
        )
        goal.strategy_job_id = job.id
        db().commit()
        location = url_for("jobs.JobItem", job_id=job.id)
        return {"goal": goal, "job": job}, 202, {"Location": location}

    @limits.per_user("rate_limit_leads_read")
    @blp.arguments(PageQuery, location="query")
    @blp.response(200, GoalPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Your organization's goals, newest first"""
        items, cursor = leads.list_goals(
            session=db(),
            org_id=current_org_id(),
            cursor=query.get("cursor"),
            limit=query["limit"],
        )
        return {"items": items, "next_cursor": cursor}


@blp.route("/goals/<uuid:goal_id>")
class GoalItem(MethodView):
    @limits.per_user("rate_limit_leads_read")
    @blp.response(200, GoalRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, goal_id: uuid.UUID) -> leads.Goal:
        """One goal: its status, strategy and what it cost"""
        return leads.goal_of(session=db(), org_id=current_org_id(), goal_id=goal_id)


@blp.route("/validate")
class Validate(MethodView):
    @limits.per_user("rate_limit_leads_validate")
    @blp.arguments(ValidateRequest)
    @blp.response(202, ValidateStarted)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Check the e-mail addresses of some of your leads (202 with the job)"""
        viewer = current_viewer()
        org_id = current_org_id()
        lead_ids = list(dict.fromkeys(body["lead_ids"]))
        for lead_id in lead_ids:  # another organisation's lead: 404, as everywhere
            leads.lead_of(session=db(), org_id=org_id, lead_id=lead_id)
        job, _ = enqueue.submit(
            session=db(),
            dispatcher=platform().dispatcher,
            owner_id=viewer.user_id,
            org_id=org_id,
            kind=registry.kind_for("leads.validate", viewer),
            params={"lead_ids": [str(i) for i in lead_ids], "force": body["force"]},
            request_id=g.request_id,
        )
        db().commit()
        return {"job": job}, 202, {"Location": url_for("jobs.JobItem", job_id=job.id)}


@blp.route("/analytics/overview")
class AnalyticsOverview(MethodView):
    @limits.per_user("rate_limit_leads_analytics")
    @blp.arguments(OverviewQuery, location="query")
    @blp.response(200, OverviewRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> leads.Overview:
        """Your leads in a time range: by status, source and day, conversion, validation, cost"""
        until = query.get("until") or utcnow()
        since = query.get("since") or until - timedelta(days=30)
        if since >= until or until - since > timedelta(days=366):
            raise InvalidInput(
                "since must come before until, at most a year apart",
                details={"fields": {"since": ["out of range"]}},
            )
        return leads.overview(session=db(), org_id=current_org_id(), since=since, until=until)


@blp.route("/analytics/reports")
class Reports(MethodView):
    @limits.per_user("rate_limit_leads_reports")
    @blp.arguments(ReportCreate)
    @blp.response(202, ReportStarted)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Export your leads as CSV or XLSX (202 with the report and its job)"""
        viewer = current_viewer()
        kind = registry.kind_for("leads.report", viewer)
        filters: dict[str, Any] = {k: body[k].isoformat() for k in ("since", "until") if k in body}
        report = leads.create_report(
            session=db(),
            org_id=current_org_id(),
            user_id=viewer.user_id,
            format=body["format"],
            filters=filters,
        )
        job, _ = enqueue.submit(
            session=db(),
            dispatcher=platform().dispatcher,
            owner_id=viewer.user_id,
            org_id=report.org_id,
            kind=kind,
            params={"report_id": str(report.id)},
            request_id=g.request_id,
        )
        report.job_id = job.id
        db().commit()
        return (
            {"report": report, "job": job},
            202,
            {"Location": url_for("jobs.JobItem", job_id=job.id)},
        )


@blp.route("/analytics/reports/schedules")
class ReportSchedules(MethodView):
    @limits.per_user("rate_limit_leads_read")
    @blp.response(200, ReportScheduleList)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self) -> dict[str, Any]:
        """Your organisation's report schedules"""
        return {"items": leads.list_schedules(session=db(), org_id=current_org_id())}

    @limits.per_user("rate_limit_leads_write")
    @blp.arguments(ReportScheduleCreate)
    @blp.response(201, ReportScheduleRead)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> leads.ReportSchedule:
        """Have the report made weekly or monthly; you are mailed a link to each when ready"""
        viewer = current_viewer()
        registry.kind_for("leads.report", viewer)  # whoever may make a report may schedule it
        schedule = leads.create_schedule(
            session=db(),
            org_id=current_org_id(),
            user_id=viewer.user_id,
            frequency=body["frequency"],
            format=body["format"],
            now=utcnow(),
        )
        db().commit()
        return schedule


@blp.route("/analytics/reports/schedules/<uuid:schedule_id>")
class ReportScheduleItem(MethodView):
    @limits.per_user("rate_limit_leads_write")
    @blp.response(204)
    @blp.doc(security=BEARER)
    @auth_required
    def delete(self, schedule_id: uuid.UUID) -> None:
        """Stop a report schedule (the reports it made stay)"""
        leads.delete_schedule(session=db(), org_id=current_org_id(), schedule_id=schedule_id)
        db().commit()


@blp.route("/analytics/reports/<uuid:report_id>")
class ReportItem(MethodView):
    @limits.per_user("rate_limit_leads_read")
    @blp.response(200, ReportRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, report_id: uuid.UUID) -> leads.Report:
        """One report: whether it is ready, its rows and size"""
        return leads.report_of(session=db(), org_id=current_org_id(), report_id=report_id)


@blp.route("/analytics/reports/<uuid:report_id>/download")
class ReportDownload(MethodView):
    @limits.per_user("rate_limit_leads_read")
    @blp.response(200, description="The file (text/csv or XLSX).")
    @blp.alt_response(409, description="Not written yet: follow its job.")
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, report_id: uuid.UUID) -> Response:
        """Download a ready report"""
        report = leads.report_of(session=db(), org_id=current_org_id(), report_id=report_id)
        if report.storage_key is None:
            raise Conflict("the report is not ready yet", details={"job_id": str(report.job_id)})
        store, key = storage(platform().settings), report.storage_key

        def chunks() -> Iterator[bytes]:
            with store.open(key) as source:
                while chunk := source.read(64 * 1024):
                    yield chunk

        name = f"leads-{report.created_at:%Y%m%d}-{str(report.id)[:8]}.{report.format}"
        return Response(
            chunks(),
            mimetype=MEDIA_TYPES[report.format],
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Content-Length": str(report.size),
            },
        )


@blp.route("/notifications")
class Notifications(MethodView):
    @limits.per_user("rate_limit_leads_read")
    @blp.arguments(NotificationQuery, location="query")
    @blp.response(200, NotificationList)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Changes to your organization's leads made by others (and by jobs), newest first"""
        items = leads.notifications_for(
            session=db(),
            org_id=current_org_id(),
            user_id=current_viewer().user_id,
            before_id=query.get("before"),
            limit=query["limit"],
        )
        return {"items": items}


@blp.route("/usage")
class Usage(MethodView):
    @limits.per_user("rate_limit_leads_read")
    @blp.response(200, LeadUsageRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self) -> dict[str, Any]:
        """What your organization's lead searches spent this month, and its budget"""
        spent = leads.spending_of(session=db(), org_id=current_org_id())
        return {
            "tier": spent.tier.value,
            "month": spent.month,
            "resets_at": spent.resets_at,
            "tokens": {"used": spent.tokens, "budget": spent.budget.tokens},
            "searches": {"used": spent.searches, "budget": spent.budget.searches},
        }


@blp.route("/goals/<uuid:goal_id>/results")
class GoalResults(MethodView):
    @limits.per_user("rate_limit_leads_results")
    @blp.response(200, ResultList)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, goal_id: uuid.UUID) -> dict[str, Any]:
        """The web results a goal's search found, best ranked first, once per URL"""
        goal = leads.goal_of(session=db(), org_id=current_org_id(), goal_id=goal_id)
        return {"items": leads.results_of(session=db(), goal_id=goal.id)}


@blp.route("")
class Leads(MethodView):
    @limits.per_user("rate_limit_leads_read")
    @blp.arguments(LeadQuery, location="query")
    @blp.response(200, LeadPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Your organization's leads, newest first, with filters and a cursor"""
        filters = leads.LeadFilter(
            **{
                k: query[k]
                for k in (
                    "status",
                    "min_score",
                    "source",
                    "goal_id",
                    "tag",
                    "validated",
                    "created_after",
                    "created_before",
                )
                if k in query
            }
        )
        items, cursor = leads.list_leads(
            session=db(),
            org_id=current_org_id(),
            filters=filters,
            cursor=query.get("cursor"),
            limit=query["limit"],
        )
        return {"items": items, "next_cursor": cursor}

    @limits.per_user("rate_limit_leads_write")
    @blp.arguments(LeadCreate)
    @blp.response(201, LeadDetail)
    @blp.alt_response(409, description="The organization has a lead for this domain.")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add a lead by hand; it is scored like a found one"""
        domain = body.pop("domain").lower().removeprefix("www.")
        points, reasons = leads.score(
            leads.Evidence(
                emails=body.get("emails", []),
                phones=body.get("phones", []),
                social=body.get("social", []),
                company_name=body.get("company_name", ""),
            ),
            signals=[],
        )
        lead = leads.create_lead(
            session=db(),
            org_id=current_org_id(),
            actor_id=current_viewer().user_id,
            domain=domain,
            values=body,
            score=points,
            score_reasons=reasons,
        )
        for address in lead.emails:  # the organisation's lead_created sequences
            enrol_on_event(
                session=db(),
                trigger=Trigger.LEAD_CREATED,
                org_id=lead.org_id,
                email=address,
                recipient={"kind": "lead", "id": str(lead.id), "address": address,
                           "name": lead.company_name, "company_name": lead.company_name,
                           "domain": lead.domain, "score": lead.score},
            )  # fmt: skip
        db().commit()
        return _detail(lead)


@blp.route("/<uuid:lead_id>")
class LeadItem(MethodView):
    @limits.per_user("rate_limit_leads_read")
    @blp.response(200, LeadDetail)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, lead_id: uuid.UUID) -> dict[str, Any]:
        """One lead with its history of changes"""
        return _detail(leads.lead_of(session=db(), org_id=current_org_id(), lead_id=lead_id))

    @limits.per_user("rate_limit_leads_write")
    @blp.arguments(LeadUpdate)
    @blp.response(200, LeadDetail)
    @blp.doc(security=BEARER)
    @auth_required
    def patch(self, body: dict[str, Any], lead_id: uuid.UUID) -> dict[str, Any]:
        """Change a lead (status, tags, contacts, notes); the change joins its history"""
        lead = leads.update_lead(
            session=db(),
            org_id=current_org_id(),
            lead_id=lead_id,
            actor_id=current_viewer().user_id,
            changes=body,
        )
        db().commit()
        return _detail(lead)


@blp.route("/<uuid:lead_id>/interactions")
class LeadInteractions(MethodView):
    @limits.per_user("rate_limit_leads_write")
    @blp.arguments(InteractionCreate)
    @blp.response(201, InteractionRead)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any], lead_id: uuid.UUID) -> leads.Interaction:
        """Add a note, call, e-mail, meeting or follow-up to a lead's timeline"""
        lead = leads.lead_of(session=db(), org_id=current_org_id(), lead_id=lead_id)
        entry = leads.add_interaction(
            session=db(),
            lead_id=lead.id,
            actor_id=current_viewer().user_id,
            kind=body["kind"],
            body=body["body"],
            happened_at=body.get("happened_at"),
        )
        db().commit()
        return entry


class ImportStarted(Schema):
    job = fields.Nested(JobRead, required=True)


@blp.route("/import", methods=["POST"])
@limits.per_user("rate_limit_leads_write")
@accepts_upload(lambda settings: settings.leads_import_max_bytes)
@blp.response(202, ImportStarted)
@blp.alt_response(413, description="Past LEADS_IMPORT_MAX_BYTES.")
@blp.doc(security=BEARER)
@auth_required
def import_leads() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Import leads from a CSV file (multipart field "file"; 202 with the job)

    Columns: domain (required), company_name, emails, phones, tags (several separated by
    ";"), status, notes. A domain the organization has is skipped; bad lines are listed in
    the job's result."""
    viewer = current_viewer()
    org_id = current_org_id()
    kind = registry.kind_for("leads.import", viewer)
    settings = platform().settings
    key = f"leads/{org_id}/imports/{uuid.uuid4().hex}.csv"
    storage(settings).put(
        key, cast(BinaryIO, uploaded_file().stream), max_bytes=settings.leads_import_max_bytes
    )
    job, _ = enqueue.submit(
        session=db(),
        dispatcher=platform().dispatcher,
        owner_id=viewer.user_id,
        org_id=org_id,
        kind=kind,
        params={"key": key},
        request_id=g.request_id,
    )
    db().commit()
    return {"job": job}, 202, {"Location": url_for("jobs.JobItem", job_id=job.id)}


blueprints = [blp]
