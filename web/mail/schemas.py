"""The mail API's schemas: campaigns, their audiences and figures; sequences and their steps."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates,
    validates_schema,
)

from models.core.fields import BigInt, JsonValue, Text
from models.fans import FanStatus
from models.leads import LeadStatus
from models.mail.audiences import SOURCES
from models.mail.sequences import EXITS
from models.mail.tables import Trigger
from web.core.fields import EmailAddress


def _one_line(value: str) -> None:
    """One line, without control characters: \x0b, \x0c, \x1c... in a header break the mail
    (Python's mail headers count them as line ends)."""
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise ValidationError("must be a single line without control characters")


_ONE_LINE = _one_line
_BODY = validate.Length(min=1, max=200_000)


class MailAudience(Schema):
    """Who the campaign goes to: a source and its filters."""

    source = Text(required=True, validate=validate.OneOf(SOURCES))
    # fans
    status = JsonValue(
        metadata={"description": "fans: free|paid; leads: a list of lead statuses"},
        load_default=None,
    )
    country = Text(validate=validate.Regexp(r"^[A-Z]{2}\Z"))
    tags = fields.List(
        Text(validate=validate.Length(min=1, max=50)), validate=validate.Length(max=20)
    )
    consent = fields.Boolean(load_default=True, metadata={"description": "fans who consented only"})
    # leads
    min_score = BigInt(validate=validate.Range(min=0, max=100))
    validated = fields.Boolean(metadata={"description": "only addresses checked valid"})
    # members
    roles = fields.List(Text(validate=validate.OneOf(["owner", "admin", "member"])))

    @validates_schema
    def _status(self, data: dict[str, Any], **_: Any) -> None:
        status = data.get("status")
        if status is None:
            data.pop("status", None)
            return
        if data["source"] == "fans":
            if status not in [s.value for s in FanStatus]:
                raise ValidationError("fans: free or paid", "status")
        elif data["source"] == "leads":
            known = [s.value for s in LeadStatus]
            if not isinstance(status, list) or not all(s in known for s in status):
                raise ValidationError(f"leads: a list of {', '.join(known)}", "status")
        else:
            raise ValidationError("members have no status", "status")


class MailCampaignWrite(Schema):
    name = Text(required=True, validate=[validate.Length(min=1, max=200), _ONE_LINE])
    subject = Text(required=True, validate=[validate.Length(min=1, max=500), _ONE_LINE])
    text_body = Text(required=True, validate=_BODY)
    html_body = Text(allow_none=True, validate=_BODY)
    from_name = Text(required=True, validate=[validate.Length(min=1, max=100), _ONE_LINE])
    reply_to = EmailAddress(allow_none=True)
    audience = fields.Nested(MailAudience, required=True)


class MailCampaignUpdate(MailCampaignWrite):
    """The fields to change (loaded partial: the others stay as they are)."""


class MailStats(Schema):
    total = fields.Integer(required=True)
    pending = fields.Integer(required=True)
    sent = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    skipped = fields.Integer(required=True)
    cancelled = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    opened = fields.Integer(
        required=True,
        metadata={
            "description": "approximate: counted from a tracking pixel, which many mail "
            "clients block and some load without anyone reading"
        },
    )
    clicked = fields.Integer(required=True)
    bounced = fields.Integer(required=True)
    complained = fields.Integer(required=True)
    unsubscribed = fields.Integer(required=True)


class MailCampaignRead(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    subject = fields.String(required=True)
    text_body = fields.String(required=True)
    html_body = fields.String(allow_none=True)
    from_name = fields.String(required=True)
    reply_to = fields.String(allow_none=True)
    audience = fields.Dict(required=True)
    status = fields.String(required=True)
    send_at = fields.DateTime(allow_none=True)
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    note = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    progress = fields.Nested(MailStats, required=True)


class MailCampaignQuery(Schema):
    cursor = Text(validate=validate.Length(max=200))
    limit = BigInt(load_default=50, validate=validate.Range(min=1, max=200))


class MailCampaignPage(Schema):
    items = fields.List(fields.Nested(MailCampaignRead), required=True)
    next_cursor = fields.String(allow_none=True)


MAX_SCHEDULE_AHEAD = timedelta(days=366)
_SCHEDULE_SKEW = timedelta(minutes=1)  # a "now" from a client whose clock is a little behind


class MailScheduleWrite(Schema):
    send_at = fields.AwareDateTime(
        allow_none=True,
        metadata={
            "description": "when to send, from now to 366 days ahead (stored in UTC); absent "
            "or null: now"
        },
    )

    @validates("send_at")
    def _send_at(self, value: datetime | None, **_: Any) -> None:
        if value is None:
            return
        # A difference, not a conversion: year 9999 at -12:00 is past what UTC can hold.
        ahead = value - datetime.now(UTC)
        if ahead < -_SCHEDULE_SKEW:
            raise ValidationError("must not be in the past")
        if ahead > MAX_SCHEDULE_AHEAD:
            raise ValidationError("must be at most 366 days ahead")

    @post_load
    def _utc(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("send_at") is not None:
            data["send_at"] = data["send_at"].astimezone(UTC)
        return data


class MailPreviewWrite(Schema):
    recipient = fields.Dict(
        keys=Text(validate=validate.Length(max=50)),
        values=Text(validate=validate.Length(max=500)),
        metadata={"description": "fields to preview with; absent: the audience's first"},
    )


class MailPreviewRead(Schema):
    subject = fields.String(required=True)
    text = fields.String(required=True)
    html = fields.String(allow_none=True)
    recipient = fields.Dict(required=True)
    audience_count = fields.Integer(required=True)


class MailTestSendWrite(Schema):
    to = fields.List(EmailAddress(), required=True, validate=validate.Length(min=1, max=5))


class MailSkippedRead(Schema):
    email = fields.String(required=True)
    reason = fields.String(required=True)


class MailTestSendRead(Schema):
    job_id = fields.UUID(allow_none=True, metadata={"description": "null: every address skipped"})
    to = fields.List(fields.String(), required=True)
    skipped = fields.List(
        fields.Nested(MailSkippedRead),
        required=True,
        metadata={"description": "suppressed addresses, not mailed"},
    )


class MailFailureRead(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    status = fields.String(required=True)
    reason = fields.String(allow_none=True)
    attempts = fields.Integer(required=True)


class MailFailureQuery(Schema):
    after = BigInt(validate=validate.Range(min=0))
    limit = BigInt(load_default=100, validate=validate.Range(min=1, max=500))


class MailFailurePage(Schema):
    items = fields.List(fields.Nested(MailFailureRead), required=True)
    next_after = fields.Integer(allow_none=True)


# -- sequences -------------------------------------------------------------------------------
class MailStepWrite(Schema):
    delay_s = BigInt(
        required=True,
        validate=validate.Range(min=0, max=365 * 86400),
        metadata={"description": "seconds after the step before (the first: after enrolment)"},
    )
    subject = Text(required=True, validate=[validate.Length(min=1, max=500), _ONE_LINE])
    text_body = Text(required=True, validate=_BODY)
    html_body = Text(allow_none=True, validate=_BODY)


class MailSequenceWrite(Schema):
    name = Text(required=True, validate=[validate.Length(min=1, max=200), _ONE_LINE])
    trigger = Text(
        load_default=Trigger.MANUAL.value,
        validate=validate.OneOf(
            [Trigger.MANUAL.value, Trigger.FAN_CONFIRMED.value, Trigger.LEAD_CREATED.value]
        ),
    )
    from_name = Text(required=True, validate=[validate.Length(min=1, max=100), _ONE_LINE])
    exit_on = fields.List(Text(validate=validate.OneOf(EXITS)), load_default=["unsubscribed"])
    steps = fields.List(
        fields.Nested(MailStepWrite), required=True, validate=validate.Length(min=1, max=20)
    )


class MailStepRead(Schema):
    id = fields.UUID(required=True)
    position = fields.Integer(required=True)
    delay_s = fields.Integer(required=True)
    subject = fields.String(required=True)
    text_body = fields.String(required=True)
    html_body = fields.String(allow_none=True)
    stats = fields.Nested(MailStats, required=True)


class MailSequenceRead(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    trigger = fields.String(required=True)
    from_name = fields.String(required=True)
    exit_on = fields.List(fields.String(), required=True)
    active = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)
    steps = fields.List(fields.Nested(MailStepRead), required=True)


class MailSequenceList(Schema):
    items = fields.List(fields.Nested(MailSequenceRead), required=True)


class MailEnrolWrite(Schema):
    email = EmailAddress(required=True)
    name = Text(validate=validate.Length(max=200), load_default="")


class MailEnrolmentRead(Schema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    status = fields.String(required=True)
    exit_reason = fields.String(allow_none=True)
    next_position = fields.Integer(required=True)
    next_due_at = fields.DateTime(allow_none=True)
    enrolled_at = fields.DateTime(required=True)


class MailEnrolmentList(Schema):
    items = fields.List(fields.Nested(MailEnrolmentRead), required=True)


class MailExitWrite(Schema):
    reason = Text(required=True, validate=validate.OneOf(["replied", "removed"]))


class MailSuppressionRead(Schema):
    email = fields.String(required=True)
    reason = fields.String(required=True)
    detail = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)


class MailSuppressionQuery(Schema):
    after = Text(validate=validate.Length(max=320))
    limit = BigInt(load_default=100, validate=validate.Range(min=1, max=500))


class MailSuppressionList(Schema):
    items = fields.List(fields.Nested(MailSuppressionRead), required=True)
