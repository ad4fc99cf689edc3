"""/api/v1/mail/sequences: an organisation's sequences, their steps, enrolments and figures;
/api/v1/mail/suppressions: the addresses it no longer mails."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from models.core.errors import Conflict
from models.mail import sequences, suppression
from models.mail.tables import Sequence
from web.core import limits
from web.core.auth import BEARER, auth_required, current_org_id, current_viewer
from web.core.context import db
from web.mail.schemas import (
    MailEnrolmentList,
    MailEnrolmentRead,
    MailEnrolWrite,
    MailExitWrite,
    MailSequenceList,
    MailSequenceRead,
    MailSequenceWrite,
    MailSuppressionList,
    MailSuppressionQuery,
)

blp = Blueprint(
    "mail_sequences",
    __name__,
    url_prefix="/api/v1/mail/sequences",
    description="Mail sequences: steps sent one after the other, each after its delay, to "
    "each enrolled recipient.",
)
suppressions_blp = Blueprint(
    "mail_suppressions",
    __name__,
    url_prefix="/api/v1/mail/suppressions",
    description="The addresses the organisation no longer mails, and why.",
)


def _read(sequence: Sequence) -> dict[str, Any]:
    session = db()
    steps = [
        {
            **{c: getattr(step, c) for c in ("id", "position", "delay_s", "subject",
                                              "text_body", "html_body")},
            "stats": sequences.step_stats(session=session, step=step).as_dict(),
        }
        for step in sequences.steps_of(session=session, sequence_id=sequence.id)
    ]  # fmt: skip
    fields = ("id", "name", "trigger", "from_name", "exit_on", "active", "created_at")
    return {**{c: getattr(sequence, c) for c in fields}, "steps": steps}


def _get(sequence_id: uuid.UUID) -> Sequence:
    return sequences.get_sequence(session=db(), org_id=current_org_id(), sequence_id=sequence_id)


@blp.route("")
class Sequences(MethodView):
    @blp.response(200, MailSequenceList)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self) -> dict[str, Any]:
        """List the organisation's sequences, with each step's figures"""
        found = sequences.list_sequences(session=db(), org_id=current_org_id())
        return {"items": [_read(s) for s in found]}

    @limits.per_user("rate_limit_mail_write")
    @blp.arguments(MailSequenceWrite)
    @blp.response(201, MailSequenceRead)
    @blp.alt_response(422, description="A step's template has an error (the line named).")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a sequence: its steps and delays, what enrols (an event, or by hand), when
        a recipient leaves"""
        steps = body.pop("steps")
        sequence = sequences.create_sequence(
            session=db(),
            org_id=current_org_id(),
            user_id=current_viewer().user_id,
            values=body,
            steps=steps,
        )
        db().commit()
        return _read(sequence)


@blp.route("/<uuid:sequence_id>")
class SequenceItem(MethodView):
    @blp.response(200, MailSequenceRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, sequence_id: uuid.UUID) -> dict[str, Any]:
        """One sequence, its steps and each step's figures"""
        return _read(_get(sequence_id))


@blp.route("/<uuid:sequence_id>/enrolments")
class Enrolments(MethodView):
    @blp.response(200, MailEnrolmentList)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, sequence_id: uuid.UUID) -> dict[str, Any]:
        """The sequence's enrolments (the first 500)"""
        found = sequences.list_enrolments(session=db(), sequence=_get(sequence_id), limit=500)
        return {"items": found}

    @limits.per_user("rate_limit_mail_write")
    @blp.arguments(MailEnrolWrite)
    @blp.response(201, MailEnrolmentRead)
    @blp.alt_response(409, description="The address is enrolled already.")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any], sequence_id: uuid.UUID) -> Any:
        """Enrol an address by hand: its first step is due after that step's delay"""
        sequence = _get(sequence_id)
        name = body["name"]
        enrolment = sequences.enrol(
            session=db(),
            sequence=sequence,
            org_id=sequence.org_id or current_org_id(),
            email=body["email"],
            recipient={"kind": "manual", "name": name, "first_name": name.split(" ")[0]},
        )
        if enrolment is None:
            raise Conflict("this address is enrolled in the sequence already")
        db().commit()
        return enrolment


@blp.route("/<uuid:sequence_id>/enrolments/<uuid:enrolment_id>/exit", methods=["POST"])
@limits.per_user("rate_limit_mail_write")
@blp.arguments(MailExitWrite)
@blp.response(200, MailEnrolmentRead)
@blp.doc(security=BEARER)
@auth_required
def exit_enrolment(body: dict[str, Any], sequence_id: uuid.UUID, enrolment_id: uuid.UUID) -> Any:
    """Take a recipient out of the sequence (they replied, say): no further step is sent"""
    enrolment = sequences.get_enrolment(
        session=db(), sequence=_get(sequence_id), enrolment_id=enrolment_id
    )
    sequences.leave(enrolment=enrolment, reason=body["reason"])
    db().commit()
    return enrolment


@suppressions_blp.route("")
@suppressions_blp.arguments(MailSuppressionQuery, location="query")
@suppressions_blp.response(200, MailSuppressionList)
@suppressions_blp.doc(security=BEARER)
@auth_required
def list_suppressions(query: dict[str, Any]) -> dict[str, Any]:
    """The suppressed addresses, by address: unsubscribed, hard bounces, complaints"""
    found = suppression.list_suppressions(
        session=db(), org_id=current_org_id(), limit=query["limit"], after=query.get("after")
    )
    return {"items": found}
