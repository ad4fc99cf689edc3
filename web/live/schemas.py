"""The live API's schemas: sessions, their log, triggers, overlay links, effects, brand kits."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates

from models.live.tables import CATEGORIES, PLATFORMS, SessionStatus
from web.core.fields import BigInt, Text

HEX_COLOUR = r"^#[0-9a-fA-F]{6}$"


class LivePageQuery(Schema):
    cursor = Text(validate=validate.Length(max=200))
    limit = BigInt(load_default=20, validate=validate.Range(min=1, max=100))


# -- sessions --------------------------------------------------------------------------------
class LiveSessionCreate(Schema):
    platform = Text(required=True, validate=validate.OneOf(PLATFORMS))
    title = Text(required=True, validate=validate.Length(min=1, max=200))
    brand_kit_id = fields.UUID(
        allow_none=True,
        load_default=None,
        metadata={"description": "Its effects must be of the kit's categories (professional)."},
    )


class LiveSessionQuery(LivePageQuery):
    status = fields.Enum(SessionStatus, by_value=True)


class SessionMetric(Schema):
    count = BigInt(required=True)
    sum = fields.Float(required=True)
    last_value = fields.Float(required=True)
    last_at = fields.DateTime(required=True)


class LiveSessionRead(Schema):
    id = fields.UUID(required=True)
    platform = Text(required=True)
    title = Text(required=True)
    status = Text(required=True, metadata={"description": "active or ended"})
    brand_kit_id = fields.UUID(allow_none=True)
    started_at = fields.DateTime(required=True)
    ended_at = fields.DateTime(allow_none=True)
    ended_reason = Text(allow_none=True, metadata={"description": "ended, or idle"})
    last_activity_at = fields.DateTime(required=True)
    last_seq = BigInt(required=True, metadata={"description": "The log's latest entry."})
    queue_ends_at = fields.DateTime(
        allow_none=True, metadata={"description": "When the last queued effect ends."}
    )
    triggers = BigInt(required=True)
    metrics = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(SessionMetric),
        metadata={
            "description": "GET of one session: each metric recorded in it (POST /api/v1/metrics "
            "with its live_session_id), by name."
        },
    )
    overlays_connected = BigInt(
        metadata={"description": "Overlay streams open now, over every API process (one session)."}
    )


class LiveSessionPage(Schema):
    items = fields.List(fields.Nested(LiveSessionRead), required=True)
    next_cursor = Text(allow_none=True)


class LiveEventRead(Schema):
    seq = BigInt(required=True)
    type = Text(required=True, metadata={"description": "effect, session_ended, token_revoked"})
    session_id = fields.UUID(required=True)
    effect = fields.Dict(metadata={"description": "effect: what plays"})
    message = Text(allow_none=True)
    brand = fields.Dict(allow_none=True)
    reason = Text(metadata={"description": "session_ended: ended or idle"})
    token_id = fields.UUID(metadata={"description": "token_revoked: which link"})
    starts_at = fields.DateTime(allow_none=True, metadata={"description": "Planned start."})
    ends_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)


class LiveEventQuery(Schema):
    after = BigInt(load_default=0, validate=validate.Range(min=0))
    limit = BigInt(load_default=100, validate=validate.Range(min=1, max=500))


class LiveEventPage(Schema):
    items = fields.List(fields.Nested(LiveEventRead), required=True)


class LiveTriggerCreate(Schema):
    effect_id = fields.UUID(required=True)
    message = Text(
        allow_none=True,
        load_default=None,
        validate=validate.Length(max=200),
        metadata={"description": "Shown with the effect, e.g. who followed."},
    )


class LiveOverlayCreate(Schema):
    label = Text(load_default="overlay", validate=validate.Length(min=1, max=100))


class LiveOverlayRead(Schema):
    id = fields.UUID(required=True)
    label = Text(required=True)
    created_at = fields.DateTime(required=True)
    revoked_at = fields.DateTime(allow_none=True)


class LiveOverlayCreated(LiveOverlayRead):
    token = Text(required=True, metadata={"description": "Shown once; read-only, this session."})
    overlay_url = Text(required=True, metadata={"description": "For an OBS browser source."})
    events_url = Text(required=True, metadata={"description": "The overlay's event stream."})


class LiveOverlayList(Schema):
    items = fields.List(fields.Nested(LiveOverlayRead), required=True)


# -- effects ---------------------------------------------------------------------------------
class LiveEffectQuery(Schema):
    category = Text(validate=validate.OneOf(CATEGORIES))


class LiveEffectRead(Schema):
    id = fields.UUID(required=True)
    name = Text(required=True)
    category = Text(required=True)
    duration_ms = BigInt(required=True)
    built_in = fields.Boolean(required=True)
    animation = Text(allow_none=True, metadata={"description": "Built-ins: what the page draws."})
    status = Text(required=True, metadata={"description": "pending, passed or failed"})
    problem = Text(allow_none=True)


class LiveEffectList(Schema):
    items = fields.List(fields.Nested(LiveEffectRead), required=True)


class LiveEffectUpload(Schema):
    """The form fields that come with an upload's file."""

    name = Text(required=True, validate=validate.Length(min=1, max=100))
    category = Text(required=True, validate=validate.OneOf(CATEGORIES))
    duration_ms = BigInt(
        load_default=3000,
        validate=validate.Range(min=200, max=30_000),
        metadata={"description": "An image's time on screen; a sound's is its own length."},
    )


# -- brand kits ------------------------------------------------------------------------------
class LiveTypography(Schema):
    heading_font = Text(required=True, validate=validate.Length(min=1, max=100))
    body_font = Text(required=True, validate=validate.Length(min=1, max=100))
    base_size_px = BigInt(load_default=24, validate=validate.Range(min=8, max=200))


class BrandKitWrite(Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=100))
    palette = fields.List(
        Text(validate=validate.Regexp(HEX_COLOUR, error="a colour is #rrggbb in hex")),
        required=True,
        validate=validate.Length(min=1, max=12),
    )
    typography = fields.Nested(LiveTypography, required=True)
    motion_intensity = BigInt(required=True, validate=validate.Range(min=1, max=5))
    allowed_categories = fields.List(
        Text(validate=validate.OneOf(CATEGORIES)),
        required=True,
        validate=validate.Length(min=1, max=len(CATEGORIES)),
    )

    @validates("allowed_categories")
    def _distinct(self, value: list[str], **_: object) -> None:
        if len(set(value)) != len(value):
            raise ValidationError("each category once")


class BrandKitUpdate(BrandKitWrite):
    """The fields to change; the others stay."""


class BrandKitRead(Schema):
    id = fields.UUID(required=True)
    name = Text(required=True)
    palette = fields.List(Text(), required=True)
    typography = fields.Dict(required=True)
    motion_intensity = BigInt(required=True)
    allowed_categories = fields.List(Text(), required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class BrandKitPage(Schema):
    items = fields.List(fields.Nested(BrandKitRead), required=True)
    next_cursor = Text(allow_none=True)
