"""POST /api/v1/jobs/batch: up to 500 jobs in one request and one transaction, all or none.

Each item is what POST /api/v1/jobs takes, with its Idempotency-Key as a field. Every item is
checked (its shape, its kind and whether the caller may submit it, its params against the
kind's schema) before anything is stored, and a batch with any bad item answers one 422
naming each, by position. The new jobs are charged to the organisation's daily quota at once,
and their messages go to the broker after the commit, in one round trip.
"""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from models.core.access import Viewer
from models.core.errors import EmailNotVerified, InvalidInput
from web.core.auth import BEARER, auth_required, current_org_id, current_viewer
from web.core.context import db, platform
from web.core.job_schemas import ItemErrors, JobBatchCreate, JobBatchRead
from workers.core import enqueue, registry
from workers.core.enqueue import Submission

blp = Blueprint(
    "job_batches", __name__, url_prefix="/api/v1", description="Many jobs in one request."
)


def _submissions(items: list[Any], viewer: Viewer) -> list[Submission]:
    """The items as submissions, if every one is valid; else one InvalidInput whose
    details.items holds each bad item's errors by field, keyed by its position from 0."""
    submissions = []
    errors: dict[str, dict[str, Any]] = {}
    first_with_key: dict[str, int] = {}
    for index, item in enumerate(items):
        try:
            submissions.append(_submission(item, viewer))
        except EmailNotVerified as error:
            errors[str(index)] = {"kind": [error.message]}
        except InvalidInput as error:
            errors[str(index)] = error.details["fields"]
        key = None if isinstance(item, ItemErrors) else item.get("idempotency_key")
        if key is not None:
            first = first_with_key.setdefault(key, index)
            if first != index:
                # One key names one job: two items with it cannot both be that job.
                errors.setdefault(str(index), {})["idempotency_key"] = [
                    f"item {first} has the same idempotency_key"
                ]
    if errors:
        raise InvalidInput(
            f"{len(errors)} of the {len(items)} items are not valid; nothing was submitted",
            details={"items": errors},
        )
    return submissions


def _submission(item: dict[str, Any] | ItemErrors, viewer: Viewer) -> Submission:
    """One item as a submission (InvalidInput with details.fields if it is not valid)."""
    if isinstance(item, ItemErrors):
        raise InvalidInput("the item is not valid", details={"fields": item.messages})
    return Submission.checked(
        registry.kind_for(item["kind"], viewer),
        item["params"],
        priority=item["priority"],
        run_at=item.get("run_at"),
        idempotency_key=item.get("idempotency_key"),
    )


@blp.route("/jobs/batch")
class JobBatch(MethodView):
    @blp.arguments(JobBatchCreate())
    @blp.response(202, JobBatchRead)
    @blp.alt_response(
        409, description="An item's idempotency_key was used before for a different request."
    )
    @blp.alt_response(422, description="Items that are not valid, each named in details.items.")
    @blp.alt_response(429, description="The batch would pass the daily quota: none is stored.")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Submit up to 500 jobs at once: all are stored and sent, or none"""
        viewer = current_viewer()
        results = enqueue.submit_many(
            session=db(),
            dispatcher=platform().dispatcher,
            owner_id=viewer.user_id,
            org_id=current_org_id(),
            submissions=_submissions(body["items"], viewer),
            request_id=g.request_id,
        )
        db().commit()
        return {
            "items": [job for job, _ in results],
            "replayed": [i for i, (_, created) in enumerate(results) if not created],
        }
