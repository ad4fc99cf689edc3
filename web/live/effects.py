"""/api/v1/live/effects: the organisation's effects library, built-ins and its own uploads.

An upload (multipart: the file in part "file", with name, category and duration_ms) is
streamed to storage under LIVE_MAX_EFFECT_BYTES and answered 202 with the `live.check_effect`
job that reads its type, size and length; the effect can be triggered once it has passed.
Uploading needs the creator tier (models/live/tiers.py).
"""

from __future__ import annotations

import uuid
from typing import Any, BinaryIO, cast

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError

from models.core.errors import InvalidInput
from models.core.jobs import JobSnapshot
from models.live import effects, tiers
from models.live.effects import Effect
from web.core.auth import BEARER, auth_required, current_org_id, current_viewer
from web.core.context import db, platform
from web.core.job_schemas import JobRead
from web.core.uploads import accepts_upload, uploaded_file
from web.live.schemas import LiveEffectList, LiveEffectQuery, LiveEffectRead, LiveEffectUpload
from workers.core import enqueue, registry
from workers.core.storage import storage

blp = Blueprint(
    "live_effects",
    __name__,
    url_prefix="/api/v1/live",
    description="The effects library: built-in effects and uploads.",
)


def _submit_check(effect_id: uuid.UUID) -> JobSnapshot:
    job, _ = enqueue.submit(
        session=db(),
        dispatcher=platform().dispatcher,
        owner_id=current_viewer().user_id,
        org_id=current_org_id(),
        kind=registry.kind_for("live.check_effect", current_viewer()),
        params={"effect_id": str(effect_id)},
        request_id=g.get("request_id"),
    )
    return job


def _form() -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = LiveEffectUpload().load(request.form.to_dict())
    except ValidationError as error:
        raise InvalidInput(
            "the upload's form fields are not valid", details={"fields": error.messages}
        ) from None
    return loaded


@blp.route("/effects")
class Effects(MethodView):
    @blp.arguments(LiveEffectQuery, location="query")
    @blp.response(200, LiveEffectList)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The effects library: built-ins, then the organization's uploads; by category"""
        found = effects.library(
            session=db(), org_id=current_org_id(), category=query.get("category")
        )
        return {"items": found}


@blp.route("/effects", methods=["POST"])
@blp.response(202, JobRead)
@blp.alt_response(403, description="tier_required: uploads need the creator tier.")
@blp.alt_response(409, description="effect_uploads_full: LIVE_MAX_EFFECT_UPLOADS are kept.")
@blp.alt_response(413, description="The file is larger than LIVE_MAX_EFFECT_BYTES.")
@blp.alt_response(429, description="quota_exceeded: the day's jobs are used; nothing is kept.")
@blp.doc(
    security=BEARER,
    requestBody={
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "name", "category"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string", "maxLength": 100},
                        "category": {"type": "string", "maxLength": 20},
                        "duration_ms": {"type": "integer"},
                    },
                }
            }
        }
    },
)
@accepts_upload(lambda settings: settings.live_max_effect_bytes)
@auth_required
def upload_effect() -> JobSnapshot:
    """Upload an effect (an image or a sound); a job checks it before it can play"""
    org_id, effect_id = current_org_id(), uuid.uuid4()
    tiers.require(session=db(), org_id=org_id, feature="effect_uploads", what="effect uploads")
    values = _form()
    upload = uploaded_file()
    filename = effects.check_filename(upload.filename)
    settings = platform().settings
    cap = settings.live_max_effect_uploads
    effects.check_room(session=db(), org_id=org_id, cap=cap)
    key = effects.storage_key(org_id, effect_id)
    store = storage(settings)
    stored = store.put(key, cast(BinaryIO, upload.stream), max_bytes=settings.live_max_effect_bytes)
    try:
        effects.record_upload(
            session=db(),
            org_id=org_id,
            effect_id=effect_id,
            values=values,
            filename=filename,
            size_bytes=stored.size,
            sha256=stored.sha256,
            cap=cap,
        )
        job = _submit_check(effect_id)  # the job quota may say no (429)
        db().commit()
    except BaseException:
        # No effect row, no file: a refused upload leaves nothing in storage.
        db().rollback()
        store.delete(key)
        raise
    return job


@blp.route("/effects/<uuid:effect_id>")
class EffectItem(MethodView):
    @blp.response(200, LiveEffectRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, effect_id: uuid.UUID) -> Effect:
        """One effect of the library, with its check's outcome"""
        return effects.get_effect(session=db(), org_id=current_org_id(), effect_id=effect_id)

    @blp.response(204)
    @blp.doc(security=BEARER)
    @auth_required
    def delete(self, effect_id: uuid.UUID) -> None:
        """Delete an uploaded effect (built-ins stay); entries that played it keep theirs"""
        key = effects.delete_upload(session=db(), org_id=current_org_id(), effect_id=effect_id)
        db().commit()
        storage(platform().settings).delete(key)
