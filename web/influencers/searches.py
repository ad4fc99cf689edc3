"""Searches (started as jobs), the creators they found (keyset pages, filters, sorts), CSV
exports (jobs, downloaded when done), the exclusion list and the credits spent."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, g, stream_with_context, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from models.core.errors import Conflict, InvalidInput, NotFound
from models.core.jobs import JobStatus
from models.core.jobs.reads import get_job
from models.influencers import CampaignStatus, Search
from models.influencers import campaigns as campaigns_domain
from models.influencers import creators as creators_domain
from models.influencers import searches as domain
from web.core import limits
from web.core.auth import BEARER, auth_required, current_org_id, current_viewer
from web.core.context import db, platform
from web.influencers.schemas import (
    CreatorPage,
    CreatorQuery,
    CreditsRead,
    ExclusionCreate,
    ExportCreate,
    ExportStarted,
    PageQuery,
    SearchCreate,
    SearchFilters,
    SearchPage,
    SearchRead,
    SearchStarted,
)
from workers.core import enqueue, registry
from workers.core.storage import storage
from workers.influencers.export import export_key

blp = Blueprint(
    "influencer_searches",
    __name__,
    url_prefix="/api/v1/influencers",
    description="Creator searches on TikTok, Instagram and YouTube, their results and exports.",
)
_FILTERS = SearchFilters()


def _submit(kind: str, params: dict[str, Any]) -> uuid.UUID:
    """Store a job of `kind` in the request's transaction; it is sent once that commits."""
    job, _ = enqueue.submit(
        session=db(),
        dispatcher=platform().dispatcher,
        owner_id=current_viewer().user_id,
        org_id=current_org_id(),
        kind=registry.kind_for(kind, current_viewer()),
        params=params,
        request_id=g.request_id,
    )
    return job.id


def _accepted(body: dict[str, Any], job_id: uuid.UUID, schema: Any) -> Response:
    response = Response(schema.dumps(body), status=202, mimetype="application/json")
    response.headers["Location"] = url_for("jobs.JobItem", job_id=job_id)
    return response


@blp.route("/campaigns/<uuid:campaign_id>/searches")
class Searches(MethodView):
    @blp.arguments(PageQuery, location="query")
    @blp.response(200, SearchPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any], campaign_id: uuid.UUID) -> dict[str, Any]:
        """List a campaign's searches, newest first"""
        org_id = current_org_id()
        campaigns_domain.get_campaign(session=db(), org_id=org_id, campaign_id=campaign_id)
        items, next_cursor = domain.list_searches(
            session=db(),
            org_id=org_id,
            campaign_id=campaign_id,
            cursor=query.get("cursor"),
            limit=query["limit"],
        )
        return {"items": items, "next_cursor": next_cursor}

    @blp.arguments(SearchCreate)
    @blp.response(202, SearchStarted)
    @blp.alt_response(409, description="The campaign is archived.")
    @blp.doc(security=BEARER)
    @limits.per_user("rate_limit_influencer_search")
    @auth_required
    def post(self, body: dict[str, Any], campaign_id: uuid.UUID) -> Response:
        """Start a keyword or similar-creator search; follow its job for progress"""
        cap = platform().settings.influencer_search_max_target
        if body["target"] > cap:
            raise InvalidInput(
                f"target must be at most {cap}", details={"fields": {"target": [f"at most {cap}"]}}
            )
        org_id = current_org_id()
        campaign = campaigns_domain.get_campaign(
            session=db(), org_id=org_id, campaign_id=campaign_id
        )
        if campaign.status == CampaignStatus.ARCHIVED:
            raise Conflict("the campaign is archived", details={"campaign_id": str(campaign_id)})
        body["keywords"] = [k.strip() for k in body["keywords"] if k.strip()]
        body["filters"] = _FILTERS.dump(body["filters"])
        search = domain.add_search(
            session=db(),
            org_id=org_id,
            campaign_id=campaign_id,
            user_id=current_viewer().user_id,
            fields=body,
        )
        search.job_id = _submit("influencers.search", {"search_id": str(search.id)})
        db().commit()
        return _accepted(
            {"search": search, "job_id": search.job_id}, search.job_id, SearchStarted()
        )


@blp.route("/campaigns/<uuid:campaign_id>/searches/<uuid:search_id>")
class SearchItem(MethodView):
    @blp.response(200, SearchRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, campaign_id: uuid.UUID, search_id: uuid.UUID) -> Search:
        """Read a search: its state, found/target, enriched, credits used"""
        return domain.get_search(
            session=db(), org_id=current_org_id(), campaign_id=campaign_id, search_id=search_id
        )


@blp.route("/campaigns/<uuid:campaign_id>/creators")
class Creators(MethodView):
    @blp.arguments(CreatorQuery, location="query")
    @blp.response(200, CreatorPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any], campaign_id: uuid.UUID) -> dict[str, Any]:
        """List the creators a campaign's searches found, filtered and sorted, by pages"""
        campaigns_domain.get_campaign(
            session=db(), org_id=current_org_id(), campaign_id=campaign_id
        )
        cursor, limit, sort = query.pop("cursor", None), query.pop("limit"), query.pop("sort")
        items, next_cursor = creators_domain.results(
            session=db(),
            campaign_id=campaign_id,
            filters=query,
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
        return {"items": items, "next_cursor": next_cursor}


@blp.route("/campaigns/<uuid:campaign_id>/exports")
class Exports(MethodView):
    @blp.arguments(ExportCreate)
    @blp.response(202, ExportStarted)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any], campaign_id: uuid.UUID) -> Response:
        """Export the campaign's creators as CSV (a job; its result links the file)"""
        campaigns_domain.get_campaign(
            session=db(), org_id=current_org_id(), campaign_id=campaign_id
        )
        params = {"campaign_id": str(campaign_id), "filters": body["filters"]}
        job_id = _submit("influencers.export", params)
        db().commit()
        return _accepted({"job_id": job_id}, job_id, ExportStarted())


@blp.route("/exports/<uuid:job_id>")
class ExportFile(MethodView):
    @blp.response(200, content_type="text/csv")
    @blp.alt_response(409, description="The export has not finished.")
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, job_id: uuid.UUID) -> Response:
        """Download a finished export's CSV file"""
        job = get_job(session=db(), job_id=job_id, viewer=current_viewer())
        if job.kind != "influencers.export" or job.org_id != current_org_id():
            raise NotFound("export not found", details={"job_id": str(job_id)})
        if job.status != JobStatus.SUCCEEDED:
            raise Conflict(f"the export is {job.status.value}", details={"job_id": str(job_id)})
        files = storage(platform().settings)

        def chunks() -> Any:
            with files.open(export_key(str(job_id))) as source:
                while chunk := source.read(64 * 1024):
                    yield chunk

        response = Response(stream_with_context(chunks()), mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="creators-{job_id}.csv"'
        return response


@blp.route("/exclusions")
class Exclusions(MethodView):
    @blp.arguments(ExclusionCreate)
    @blp.response(204)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> None:
        """Exclude a creator (contacted, rejected) from your organization's later searches"""
        creators_domain.exclude(session=db(), org_id=current_org_id(), **body)
        db().commit()


@blp.route("/credits")
class Credits(MethodView):
    @blp.response(200, CreditsRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self) -> dict[str, Any]:
        """Credits your organization's searches have spent at the provider"""
        return {"credits_used": domain.credits_used_by(session=db(), org_id=current_org_id())}
