"""The job kinds, thin: each loads what its message names and hands over to its module."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy.orm import Session

from models.accounts import User
from models.core.fields import BigInt, Text
from models.influencers import Platform, Search, SearchState
from models.influencers.searches import SearchGone, set_state
from workers.clients.scrapecreators import ScrapeCreators
from workers.core.context import JobContext
from workers.core.enqueue import submit
from workers.core.errors import PermanentError
from workers.core.registry import get_kind, job_kind
from workers.influencers.export import write_export
from workers.influencers.search import SearchRun

MAX_RATE = 1000


class SearchParams(Schema):
    search_id = fields.UUID(required=True)


@job_kind(
    "influencers.search",
    params=SearchParams,
    queue="influencers",
    # Spends the organisation's provider credits.
    requires_verified_email=True,
    max_attempts=8,
    time_limit_ms=2 * 60 * 60 * 1000,
    min_backoff_ms=2000,
    max_backoff_ms=5 * 60 * 1000,
)
def run_search(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Search creators for a campaign, page by page, then enrich their profiles."""
    search_id, job_id = uuid.UUID(str(params["search_id"])), uuid.UUID(ctx.job_id)
    tenant = str(ctx.org_id) if ctx.org_id else None
    with ScrapeCreators(ctx.settings, sleep=ctx.sleep, tenant=tenant) as api:
        run = SearchRun(
            sessions=ctx.sessions,
            api=api,
            job_id=job_id,
            search_id=search_id,
            cache_max_age=ctx.settings.scrapecreators_cache_max_age,
            progress=ctx.progress,
            on_complete=lambda session, search: mail_completion(ctx, session, search),
        )
        try:
            return run.run()
        except SearchGone as exc:
            raise PermanentError(str(exc)) from None
        except PermanentError as exc:
            with ctx.sessions.begin() as session:
                set_state(
                    session=session,
                    search_id=search_id,
                    job_id=job_id,
                    state=SearchState.FAILED,
                    error=str(exc)[:1000],
                )
            raise


def _rate_in_range(value: Decimal) -> None:
    # A function rather than validate.Range: the API's document would show a Range over
    # decimals as a string bound.
    if not 0 <= value <= MAX_RATE:
        raise ValidationError(f"must be between 0 and {MAX_RATE}")


def rate_field() -> fields.Decimal:
    """An engagement rate bound: a decimal such as 0.035."""
    return fields.Decimal(
        places=6,
        as_string=True,
        validate=_rate_in_range,
        metadata={"description": f"An engagement rate such as 0.035 (0 to {MAX_RATE})."},
    )


class CreatorFilters(Schema):
    """Which of a campaign's creators: the results list and the export take the same."""

    platform = Text(validate=validate.OneOf([p.value for p in Platform]))
    search_id = fields.UUID()
    followers_min = BigInt(validate=validate.Range(min=0))
    followers_max = BigInt(validate=validate.Range(min=0))
    engagement_min = rate_field()
    engagement_max = rate_field()
    has_email = fields.Boolean()
    engagement_formula = Text(validate=validate.Length(max=60))


def mail_completion(ctx: JobContext, session: Session, search: Search) -> None:
    """Tell the search's author it finished: queued in the transaction that completes it, so
    it is sent once however often the job runs."""
    author = session.get(User, search.created_by) if search.created_by else None
    kind = get_kind("email.send")
    if author is None or kind is None:
        return
    what = (
        ", ".join(f"'{k}'" for k in search.keywords)
        if search.type == "keyword"
        else f"creators like {search.seed_handle}"
    )
    base = ctx.settings.public_base_url
    text = (
        f"Your {search.platform} search for {what} has finished.\n\n"
        f"Found: {search.found} of {search.target} asked for"
        f" (stopped: {search.stop_reason or 'completed'}).\n"
        f"Profiles enriched: {search.enriched}. Credits used: {search.credits_used}"
        f" of {search.credit_budget}.\n\n"
        f"The creators: {base}/api/v1/influencers/campaigns/{search.campaign_id}/creators"
        f"?search_id={search.id}\n"
    )
    submit(
        session=session,
        dispatcher=ctx.dispatcher,
        owner_id=author.id,
        org_id=search.org_id,
        kind=kind,
        params={"to": [author.email], "subject": "Your creator search has finished", "text": text},
        internal=True,  # the platform's notice, not a job the user submitted
    )


class ExportParams(Schema):
    campaign_id = fields.UUID(required=True)
    filters = fields.Nested(CreatorFilters, load_default=dict)


@job_kind(
    "influencers.export",
    params=ExportParams,
    queue="influencers",
    max_attempts=3,
    time_limit_ms=30 * 60 * 1000,
)
def export_creators(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Export a campaign's creators as a CSV file (UTF-8 with a BOM, for spreadsheets)."""
    return write_export(ctx, uuid.UUID(str(params["campaign_id"])), params.get("filters") or {})
