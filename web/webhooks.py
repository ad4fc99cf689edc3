"""/api/v1/webhook-endpoints: where an organisation receives its notifications.

Acts in the caller's organisation (X-Organization-ID, or their first). Members read; owners
and admins register, rotate, enable and delete. The secret is shown once, when an endpoint is
made or its secret rotated. Another organisation's endpoint or delivery is a 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from models import webhooks as outbound
from models.core.errors import NotFound, PermissionDenied
from models.core.fields import Text
from models.webhooks import WebhookDelivery, WebhookEndpoint
from web.core.auth import BEARER, auth_required, current_org_id, current_viewer
from web.core.context import db, platform
from workers.webhooks import schedule

blp = Blueprint(
    "webhook_endpoints",
    __name__,
    url_prefix="/api/v1/webhook-endpoints",
    description="Outbound webhooks: endpoints, their deliveries and secrets.",
)

EVENT_NAME = validate.Regexp(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$", error="like job.succeeded")


# -- schemas ---------------------------------------------------------------------------------
class EndpointCreate(Schema):
    url = Text(
        required=True, validate=[validate.URL(schemes={"http", "https"}), validate.Length(max=2000)]
    )
    events = fields.List(
        Text(validate=[validate.Length(max=100), EVENT_NAME]),
        required=True,
        validate=validate.Length(min=1, max=50),
        metadata={
            "description": f"e.g. {', '.join(outbound.JOB_EVENTS)}, "
            "leads.search.finished, leads.report.ready"
        },
    )


class EndpointRead(Schema):
    id = fields.UUID(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    enabled = fields.Boolean(required=True)
    disabled_reason = fields.String(allow_none=True)
    consecutive_failures = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)


class EndpointWithSecret(EndpointRead):
    secret = fields.String(required=True, metadata={"description": "Shown this once."})


class EndpointList(Schema):
    items = fields.List(fields.Nested(EndpointRead), required=True)


class DeliveryRead(Schema):
    id = fields.UUID(required=True)
    msg_id = fields.String(required=True, metadata={"description": "The webhook-id header."})
    event_type = fields.String(required=True)
    status = fields.String(required=True)
    attempts = fields.Integer(required=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    last_duration_ms = fields.Integer(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)


class DeliveryList(Schema):
    items = fields.List(fields.Nested(DeliveryRead), required=True)


def _manager() -> uuid.UUID:
    viewer = current_viewer()
    org_id = current_org_id()
    if not (viewer.role is not None and viewer.role.manages):
        raise PermissionDenied("owners and admins manage webhook endpoints")
    return org_id


# -- views -----------------------------------------------------------------------------------
@blp.route("")
class Endpoints(MethodView):
    @blp.response(200, EndpointList)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self) -> dict[str, Any]:
        """Your organization's webhook endpoints"""
        return {"items": outbound.endpoints_of(session=db(), org_id=current_org_id())}

    @blp.arguments(EndpointCreate)
    @blp.response(201, EndpointWithSecret)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> WebhookEndpoint:
        """Register an endpoint; its signing secret is shown this once"""
        endpoint = outbound.create_endpoint(
            session=db(), org_id=_manager(), url=body["url"], events=body["events"]
        )
        db().commit()
        return endpoint


@blp.route("/<uuid:endpoint_id>")
class EndpointItem(MethodView):
    @blp.response(200, EndpointRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        """One endpoint"""
        return outbound.endpoint_of(session=db(), org_id=current_org_id(), endpoint_id=endpoint_id)

    @blp.response(204)
    @blp.doc(security=BEARER)
    @auth_required
    def delete(self, endpoint_id: uuid.UUID) -> None:
        """Delete an endpoint and its delivery log"""
        endpoint = outbound.endpoint_of(session=db(), org_id=_manager(), endpoint_id=endpoint_id)
        db().delete(endpoint)
        db().commit()


@blp.route("/<uuid:endpoint_id>/rotate-secret", methods=["POST"])
@blp.response(200, EndpointWithSecret)
@blp.doc(security=BEARER)
@auth_required
def rotate(endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """A new secret (shown once); the old one also signs for 24 hours"""
    endpoint = outbound.endpoint_of(session=db(), org_id=_manager(), endpoint_id=endpoint_id)
    outbound.rotate_secret(session=db(), endpoint=endpoint)
    db().commit()
    return endpoint


@blp.route("/<uuid:endpoint_id>/enable", methods=["POST"])
@blp.response(200, EndpointRead)
@blp.doc(security=BEARER)
@auth_required
def enable(endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """Enable an endpoint that was disabled (after fixing it)"""
    endpoint = outbound.endpoint_of(session=db(), org_id=_manager(), endpoint_id=endpoint_id)
    outbound.enable(session=db(), endpoint=endpoint)
    db().commit()
    return endpoint


@blp.route("/<uuid:endpoint_id>/deliveries", methods=["GET"])
@blp.response(200, DeliveryList)
@blp.doc(security=BEARER)
@auth_required
def deliveries(endpoint_id: uuid.UUID) -> dict[str, Any]:
    """The endpoint's delivery log, newest first: status codes and timing"""
    endpoint = outbound.endpoint_of(session=db(), org_id=current_org_id(), endpoint_id=endpoint_id)
    return {"items": outbound.log_of(session=db(), endpoint=endpoint)}


@blp.route("/<uuid:endpoint_id>/deliveries/<uuid:delivery_id>/redeliver", methods=["POST"])
@blp.response(202, DeliveryRead)
@blp.alt_response(409, description="The delivery is still being tried.")
@blp.doc(security=BEARER)
@auth_required
def redeliver(endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery:
    """Send a delivery again, with the same webhook-id"""
    org_id = _manager()
    outbound.endpoint_of(session=db(), org_id=org_id, endpoint_id=endpoint_id)
    delivery = outbound.delivery_of(session=db(), org_id=org_id, delivery_id=delivery_id)
    if delivery.endpoint_id != endpoint_id:
        raise NotFound("delivery not found", details={"delivery_id": str(delivery_id)})
    outbound.redeliver(session=db(), delivery=delivery)
    schedule(session=db(), dispatcher=platform().dispatcher, delivery_id=delivery.id)
    db().commit()
    return delivery


blueprints = [blp]
