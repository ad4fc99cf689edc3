"""/api/v1/notifications: what changed for the organisation (the artist), written by the daily
`notifications.daily` job at 06:00 UTC — revenue imports landed, releases reviewed,
withdrawals paid, fan milestones.

The notifications are the organisation's: every member sees the same ones. Reading is each
member's own: the unread count, the `unread` filter and marking read are per member. Another
organisation's notification answers 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from models import notifications
from web.core.auth import BEARER, auth_required, current_org_id, current_viewer
from web.core.context import db
from web.core.fields import BigInt, Text

blp = Blueprint(
    "notifications",
    __name__,
    url_prefix="/api/v1/notifications",
    description="The organisation's daily notifications and each member's reading of them.",
)


# -- schemas ---------------------------------------------------------------------------------
class NotificationPageQuery(Schema):
    cursor = Text(validate=validate.Length(max=200))
    limit = BigInt(load_default=20, validate=validate.Range(min=1, max=100))
    unread = fields.Boolean(
        load_default=False, metadata={"description": "Only those you have not read."}
    )


class NotificationItem(Schema):
    id = fields.UUID(required=True)
    kind = fields.Enum(notifications.Kind, by_value=True, required=True)
    title = Text(required=True)
    body = Text(required=True)
    phrased_by = Text(
        required=True, metadata={"description": '"template", or the model that phrased it.'}
    )
    facts = fields.Dict(
        required=True, metadata={"description": "What it is about: ids, figures, names."}
    )
    happened_at = fields.DateTime(required=True)
    created_at = fields.DateTime(required=True)
    read = fields.Boolean(required=True)
    read_at = fields.DateTime(allow_none=True)


class NotificationPage(Schema):
    items = fields.List(fields.Nested(NotificationItem), required=True)
    next_cursor = Text(allow_none=True)
    unread = BigInt(required=True, metadata={"description": "Your unread count, all pages."})


class UnreadCount(Schema):
    unread = BigInt(required=True)


class ReadAllResult(Schema):
    marked = BigInt(required=True, metadata={"description": "How many were unread."})
    unread = BigInt(required=True)


def _who() -> dict[str, Any]:
    return {"session": db(), "org_id": current_org_id(), "user_id": current_viewer().user_id}


# -- views -----------------------------------------------------------------------------------
@blp.route("")
class Notifications(MethodView):
    @blp.arguments(NotificationPageQuery, location="query")
    @blp.response(200, NotificationPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Your organisation's notifications, newest first, with your unread count"""
        items, cursor = notifications.list_notifications(
            **_who(), unread_only=query["unread"], cursor=query.get("cursor"), limit=query["limit"]
        )
        return {
            "items": items,
            "next_cursor": cursor,
            "unread": notifications.unread_count(**_who()),
        }


@blp.route("/unread-count")
class Unread(MethodView):
    @blp.response(200, UnreadCount)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self) -> dict[str, Any]:
        """How many of your organisation's notifications you have not read"""
        return {"unread": notifications.unread_count(**_who())}


@blp.route("/<uuid:notification_id>/read")
class MarkRead(MethodView):
    @blp.response(200, NotificationItem)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, notification_id: uuid.UUID) -> notifications.Item:
        """Mark a notification read (for you; again changes nothing)"""
        item = notifications.mark_read(**_who(), notification_id=notification_id)
        db().commit()
        return item


@blp.route("/read-all")
class MarkAllRead(MethodView):
    @blp.response(200, ReadAllResult)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self) -> dict[str, Any]:
        """Mark every notification of your organisation read (for you)"""
        marked = notifications.mark_all_read(**_who())
        db().commit()
        return {"marked": marked, "unread": notifications.unread_count(**_who())}


blueprints = [blp]
