"""The influencer API's schemas: campaigns, searches, creators and their pages."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from models.influencers import CampaignStatus, Platform, SearchType
from web.core.fields import BigInt, Text
from web.influencers.media import avatar_path
from workers.influencers.jobs import CreatorFilters, rate_field

MAX_KEYWORDS = 10
MAX_BUDGET = 1_000_000


class CampaignCreate(Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    description = Text(load_default="", validate=validate.Length(max=2000))
    status = Text(
        load_default=CampaignStatus.ACTIVE.value,
        validate=validate.OneOf([s.value for s in CampaignStatus]),
    )


class CampaignUpdate(Schema):
    name = Text(validate=validate.Length(min=1, max=200))
    description = Text(validate=validate.Length(max=2000))
    status = Text(validate=validate.OneOf([s.value for s in CampaignStatus]))


class CampaignRead(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    status = fields.String(required=True)
    created_by = fields.UUID(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class PageQuery(Schema):
    cursor = Text(validate=validate.Length(max=300))
    limit = BigInt(load_default=20, validate=validate.Range(min=1, max=100))


class CampaignPage(Schema):
    items = fields.List(fields.Nested(CampaignRead), required=True)
    next_cursor = fields.String(allow_none=True)


class SearchFilters(Schema):
    followers_min = BigInt(validate=validate.Range(min=0))
    followers_max = BigInt(validate=validate.Range(min=0))
    engagement_min = rate_field()
    engagement_max = rate_field()
    has_email = fields.Boolean()
    country = Text(
        validate=validate.Regexp(r"^[A-Za-z]{2}$", error="an ISO 3166 two-letter country code"),
        metadata={"description": "Where the platform gives it (TikTok, YouTube profiles)."},
    )


class SearchCreate(Schema):
    platform = Text(required=True, validate=validate.OneOf([p.value for p in Platform]))
    type = Text(
        load_default=SearchType.KEYWORD.value,
        validate=validate.OneOf([t.value for t in SearchType]),
    )
    keywords = fields.List(
        Text(validate=validate.Length(min=1, max=100)),
        load_default=list,
        validate=validate.Length(max=MAX_KEYWORDS),
    )
    seed_handle = Text(validate=validate.Length(min=1, max=200))
    filters = fields.Nested(SearchFilters, load_default=dict)
    target = BigInt(required=True, validate=validate.Range(min=1))
    credit_budget = BigInt(required=True, validate=validate.Range(min=1, max=MAX_BUDGET))

    @validates_schema
    def _what_to_search(self, data: dict[str, Any], **_: Any) -> None:
        if data["type"] == SearchType.KEYWORD and not [k for k in data["keywords"] if k.strip()]:
            raise ValidationError("a keyword search needs at least one keyword", "keywords")
        if data["type"] == SearchType.SIMILAR and not data.get("seed_handle"):
            raise ValidationError("a similar search needs the seed creator's handle", "seed_handle")


class SearchRead(Schema):
    id = fields.UUID(required=True)
    campaign_id = fields.UUID(required=True)
    job_id = fields.UUID(allow_none=True)
    platform = fields.String(required=True)
    type = fields.String(required=True)
    keywords = fields.List(fields.String(), required=True)
    seed_handle = fields.String(allow_none=True)
    filters = fields.Dict(required=True)
    target = fields.Integer(required=True)
    credit_budget = fields.Integer(required=True)
    state = fields.String(required=True)
    stop_reason = fields.String(allow_none=True)
    found = fields.Integer(required=True)
    enriched = fields.Integer(required=True)
    pages_fetched = fields.Integer(required=True)
    credits_used = fields.Integer(required=True)
    error = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(allow_none=True)


class SearchPage(Schema):
    items = fields.List(fields.Nested(SearchRead), required=True)
    next_cursor = fields.String(allow_none=True)


class SearchStarted(Schema):
    search = fields.Nested(SearchRead, required=True)
    job_id = fields.UUID(required=True, metadata={"description": "Follow it at /api/v1/jobs/<id>."})


class CreatorQuery(CreatorFilters, PageQuery):
    sort = Text(
        load_default="newest",
        validate=validate.OneOf(["newest", "followers", "engagement", "relevance"]),
        metadata={
            "description": "Highest first; creators without the figure come last. relevance: "
            "how many of a similar search's terms found the creator."
        },
    )


class CreatorRead(Schema):
    id = fields.UUID(required=True)
    search_id = fields.UUID(required=True)
    platform = fields.String(required=True)
    platform_id = fields.String(required=True)
    handle = fields.String(required=True)
    display_name = fields.String(required=True)
    profile_url = fields.String(required=True)
    avatar_url = fields.String(required=True, metadata={"description": "The CDN's link."})
    avatar_proxy_url = fields.Function(
        lambda creator: avatar_path(creator.avatar_url),
        allow_none=True,
        metadata={"description": "The picture through Backline (CDN links expire)."},
    )
    followers = fields.Integer(allow_none=True)
    bio = fields.String(required=True)
    emails = fields.List(fields.String(), required=True)
    links = fields.List(fields.String(), required=True)
    country = fields.String(allow_none=True)
    engagement_rate = fields.Decimal(as_string=True, allow_none=True)
    engagement_formula = fields.String(
        allow_none=True,
        metadata={"description": "How engagement_rate was computed; compare like with like."},
    )
    match_terms = fields.List(fields.String(), required=True)
    match_reason = fields.String(required=True)
    enriched_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)


class CreatorPage(Schema):
    items = fields.List(fields.Nested(CreatorRead), required=True)
    next_cursor = fields.String(allow_none=True)


class ExportCreate(Schema):
    filters = fields.Nested(CreatorFilters, load_default=dict)


class ExportStarted(Schema):
    job_id = fields.UUID(
        required=True,
        metadata={"description": "Its result's download_path serves the file once it succeeded."},
    )


class ExclusionCreate(Schema):
    platform = Text(required=True, validate=validate.OneOf([p.value for p in Platform]))
    platform_id = Text(required=True, validate=validate.Length(min=1, max=100))
    reason = Text(load_default="", validate=validate.Length(max=200))


class CreditsRead(Schema):
    credits_used = fields.Integer(required=True)
