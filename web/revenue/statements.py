"""/api/v1/revenue/statements: a CSV statement of earnings for whole past months, by month,
store, country and track, written by a `revenue.statement` job and downloaded once ready.

The same period over the same ledger gives the byte-identical file (its SHA-256 says so); an
import or a revert since changes the next statement of the period. Another artist's statement
is a 404, exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from flask import Response, g, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from models.core.errors import LimitReached
from models.core.ids import uuid7
from models.revenue import Statement, StatementStatus
from models.revenue import statements as statements_domain
from web.core import limits
from web.core.auth import BEARER, auth_required, current_viewer
from web.core.context import db, platform
from web.core.fields import BigInt, Text
from web.core.job_schemas import JobRead
from web.revenue.common import artist_org
from web.revenue.uploads import ArtistQuery
from workers.core import enqueue
from workers.core.registry import get_kind
from workers.core.storage import CHUNK_BYTES, storage

blp = Blueprint(
    "revenue_statements",
    __name__,
    url_prefix="/api/v1/revenue",
    description="CSV statements of an artist's earnings over past months.",
)
MONTH = validate.Regexp(r"^\d{4}-\d{2}$", error="a month, YYYY-MM")


# -- schemas ---------------------------------------------------------------------------------
class StatementCreate(Schema):
    first_month = Text(
        required=True, data_key="from", validate=MONTH, metadata={"example": "2024-01"}
    )
    last_month = Text(
        required=True,
        data_key="to",
        validate=MONTH,
        metadata={"example": "2024-03", "description": "Included; a month that is over."},
    )


class StatementRead(Schema):
    id = fields.UUID(required=True)
    org_id = fields.UUID(required=True, metadata={"description": "The artist."})
    requested_by = fields.UUID(allow_none=True)
    first_month = fields.Date(required=True, data_key="from")
    last_month = fields.Date(required=True, data_key="to")
    status = fields.Enum(StatementStatus, by_value=True, required=True)
    job_id = fields.UUID(allow_none=True)
    lines = BigInt(allow_none=True, metadata={"description": "Lines below the header."})
    size_bytes = BigInt(allow_none=True)
    sha256 = Text(
        allow_none=True, metadata={"description": "The same for the same period and ledger."}
    )
    error = Text(allow_none=True)
    created_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(allow_none=True)


class StatementAccepted(Schema):
    statement = fields.Nested(StatementRead, required=True)
    job = fields.Nested(JobRead, required=True)


class StatementQuery(ArtistQuery):
    cursor = Text()
    limit = BigInt(load_default=20, validate=validate.Range(min=1, max=100))


class StatementPage(Schema):
    items = fields.List(fields.Nested(StatementRead), required=True)
    next_cursor = Text(allow_none=True)


# -- views -----------------------------------------------------------------------------------
@blp.route("/statements")
class Statements(MethodView):
    @blp.arguments(StatementCreate)
    @blp.arguments(ArtistQuery, location="query")
    @blp.response(202, StatementAccepted)
    @blp.alt_response(422, description="Not a month, out of order, or a month not over yet.")
    @blp.alt_response(429, description="Past RATE_LIMIT_REVENUE_STATEMENT for this artist.")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any], query: dict[str, Any]) -> dict[str, Any]:
        """Ask for a CSV statement of a period of past months; answers 202 with its job"""
        org_id = artist_org(query.get("org_id"))
        first = statements_domain.month_of(body["first_month"], "from")
        last = statements_domain.month_of(body["last_month"], "to")
        statements_domain.check_period(first, last)  # a bad period does not count as a try
        if not limits.allows("rate_limit_revenue_statement", str(org_id)):
            raise LimitReached(
                "too many statements for this artist; try again later", retry_after_s=60
            )
        statement = statements_domain.create_statement(
            session=db(),
            statement_id=uuid7(),
            org_id=org_id,
            user_id=current_viewer().user_id,
            first_month=first,
            last_month=last,
        )
        kind = get_kind("revenue.statement")
        assert kind is not None  # noqa: S101 - declared in workers/revenue
        job, _ = enqueue.submit(
            session=db(),
            dispatcher=platform().dispatcher,
            owner_id=current_viewer().user_id,
            org_id=org_id,
            kind=kind,
            params={"statement_id": str(statement.id)},
            request_id=g.get("request_id"),
        )
        statement.job_id = job.id
        db().commit()
        return {"statement": statement, "job": job}

    @blp.arguments(StatementQuery, location="query")
    @blp.response(200, StatementPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The artist's statements, newest first"""
        items, next_cursor = statements_domain.list_statements(
            session=db(),
            org_id=artist_org(query.get("org_id")),
            cursor=query.get("cursor"),
            limit=query["limit"],
        )
        return {"items": items, "next_cursor": next_cursor}


@blp.route("/statements/<uuid:statement_id>")
class StatementItem(MethodView):
    @blp.arguments(ArtistQuery, location="query")
    @blp.response(200, StatementRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any], statement_id: uuid.UUID) -> Statement:
        """One statement: its period, state, size and SHA-256"""
        return statements_domain.get_statement(
            session=db(), org_id=artist_org(query.get("org_id")), statement_id=statement_id
        )


@blp.route("/statements/<uuid:statement_id>/file")
class StatementFile(MethodView):
    @blp.arguments(ArtistQuery, location="query")
    @blp.response(200, description="The CSV statement.", content_type="text/csv")
    @blp.alt_response(409, description="The statement's job has not written it.")
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any], statement_id: uuid.UUID) -> Response:
        """Download a ready statement's CSV, streamed"""
        statement = statements_domain.ready_statement(
            session=db(), org_id=artist_org(query.get("org_id")), statement_id=statement_id
        )
        store, key = storage(platform().settings), statement.storage_key

        def chunks() -> Iterator[bytes]:
            with store.open(key) as f:
                while chunk := f.read(CHUNK_BYTES):
                    yield chunk

        name = f"statement-{statement.first_month:%Y-%m}-{statement.last_month:%Y-%m}.csv"
        return Response(
            stream_with_context(chunks()),
            mimetype="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Content-Length": str(statement.size_bytes),
                "ETag": f'"{statement.sha256}"',
            },
        )
