"""/api/v1/auth/me: leaving for good (DELETE, with the password), and a copy of one's data
first (POST /me/export starts a job, GET /me/export answers its state and archive).

The export job is internal, so that the other members of the organisation it runs in cannot
read it through the jobs API; only its owner reads it, here.
"""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from models.accounts import leaving
from models.core.errors import NotFound
from models.core.jobs import Job, NewJob, create_job
from web.accounts import mails
from web.core import cookies, limits
from web.core.auth import BEARER, auth_required, current_org_id
from web.core.context import db, platform
from web.core.fields import Text
from workers.core.enqueue import Dispatch, submit, validate_params
from workers.core.registry import get_kind

blp = Blueprint(
    "leaving", __name__, url_prefix="/api/v1/auth", description="Leaving, and your data."
)


class DeleteAccountRequest(Schema):
    password = Text(
        load_only=True,
        validate=validate.Length(max=1024),
        metadata={
            "description": "Required, unless the account has none: then a provider login of "
            "the last 10 minutes proves it is you."
        },
    )
    delete_organizations = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Confirm that the organizations you are alone in are deleted "
            "with all their data."
        },
    )


class ExportRead(Schema):
    job_id = fields.UUID(attribute="id", required=True)
    status = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(allow_none=True)
    archive = fields.Dict(
        attribute="result",
        allow_none=True,
        metadata={"description": "Once the job succeeded: everything Backline holds on you."},
    )


def _goodbye(to: str) -> None:
    """Mail the old address, from no account (there is none left); once sent, the job
    forgets the address too."""
    kind = get_kind("email.send")
    assert kind is not None  # noqa: S101 - declared in workers/mail.py
    subject, text = mails.account_deleted()
    params = {"to": [to], "subject": subject, "text": text, "forget_recipient": True}
    new = NewJob(
        kind=kind.name,
        queue=kind.queue,
        params=validate_params(kind, params),
        max_attempts=kind.max_attempts,
        internal=True,
    )
    job, _ = create_job(session=db(), owner_id=None, org_id=None, new=new)
    platform().dispatcher.send_after_commit(db(), Dispatch.of(job))


@blp.route("/me")
class Leave(MethodView):
    @limits.per_ip("rate_limit_login")  # checks a password, like login
    @limits.per_user("rate_limit_change_password")
    @blp.arguments(DeleteAccountRequest)
    @blp.response(204)
    @blp.doc(security=BEARER)
    @auth_required
    def delete(self, body: dict[str, Any]) -> None:
        """Delete your account for good (the password is asked again)

        Every session ends and your personal data is erased. If you are the only owner of an
        organization with other members, make someone else owner first (409
        organization_needs_owner); organizations you are alone in are deleted with all their
        data once you send delete_organizations: true (409 confirm_organization_deletion).
        """
        person = leaving.delete_account(
            session=db(),
            user=g.user,
            password=body.get("password"),
            session_id=g.session_id,
            delete_organizations=body["delete_organizations"],
        )
        _goodbye(person.email)
        db().commit()
        cookies.clear_auth_cookies(platform().settings)


@blp.route("/me/export")
class Export(MethodView):
    @limits.per_user("rate_limit_account_export")
    @blp.response(202, ExportRead)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self) -> Job:
        """Start an export of your data (a JSON archive); read it with GET"""
        kind = get_kind(leaving.EXPORT_KIND)
        assert kind is not None  # noqa: S101 - declared in workers/accounts.py
        snapshot, _ = submit(
            session=db(),
            dispatcher=platform().dispatcher,
            owner_id=g.user.id,
            org_id=current_org_id(),
            kind=kind,
            params={},
            request_id=g.request_id,
            internal=True,
        )
        db().commit()
        return db().get_one(Job, snapshot.id)

    @blp.response(200, ExportRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self) -> Job:
        """Your latest export: its state, and the archive once it is ready"""
        job = leaving.latest_export(session=db(), user_id=g.user.id)
        if job is None:
            raise NotFound("no export yet: POST /api/v1/auth/me/export starts one")
        return job
