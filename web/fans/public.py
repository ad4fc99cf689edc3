"""The artist's public page and its fan sign-up, for anyone (no token), and the page's
settings for the artist's members.

GET /api/v1/public/artists/<slug> answers the page with a `form_token`: a signed note of
when the form was served. A sign-up needs it, and is taken for a bot's (answered as usual,
nothing kept, nothing mailed) when it comes back sooner than FAN_SIGNUP_MIN_FILL_S, or with
the hidden `website` field filled in, which people never see and form-filling bots do. No
third-party captcha. Sign-ups are counted per IP and per artist (429 past either), and the
confirmation mails to one address are capped silently.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from config import Settings
from models.core.errors import LimitReached
from models.core.fields import Text
from models.fans import pages, releases
from models.fans.fans import find_by_email
from models.fans.pages import SLUG_PATTERN, ArtistPage
from models.mail import Trigger, enrol_on_event
from web.accounts import send_mail
from web.core import limits
from web.core.auth import BEARER, auth_required, current_org_id
from web.core.context import db, platform
from web.core.fields import EmailAddress

blp = Blueprint("fan_pages", __name__, url_prefix="/api/v1", description="Artists' public pages.")
FORM_AUDIENCE = "backline:fan-signup-form"
FORM_TTL_S = 86400
ACCEPTED = {"message": "check your inbox to confirm your subscription"}


# -- schemas ---------------------------------------------------------------------------------
class Link(Schema):
    label = Text(required=True, validate=validate.Length(min=1, max=100))
    url = Text(
        required=True,
        validate=[validate.Length(max=500), validate.URL(schemes={"https", "http"})],
    )


class PageWrite(Schema):
    slug = Text(
        required=True,
        validate=validate.Regexp(
            SLUG_PATTERN.removesuffix("$") + r"\Z",
            error="3 to 60 lower-case letters, digits and dashes",
        ),
    )
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    bio = Text(load_default="", validate=validate.Length(max=5000))
    links = fields.List(fields.Nested(Link), load_default=list, validate=validate.Length(max=20))
    published = fields.Boolean(load_default=True)


class PageRead(PageWrite):
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class PublicRelease(Schema):
    id = fields.UUID(required=True)
    title = fields.String(required=True)
    type = fields.String(required=True)
    release_date = fields.Date(allow_none=True)


class PublicPage(Schema):
    slug = fields.String(required=True)
    name = fields.String(required=True)
    bio = fields.String(required=True)
    links = fields.List(fields.Nested(Link), required=True)
    releases = fields.List(fields.Nested(PublicRelease), required=True)
    form_token = fields.String(
        required=True, metadata={"description": "Send it back with a sign-up."}
    )


class SignupCreate(Schema):
    email = EmailAddress(required=True)
    name = Text(validate=validate.Length(max=200))
    country = Text(validate=validate.Regexp(r"^[A-Z]{2}\Z", error="a two-letter country code"))
    consent = fields.Boolean(
        required=True,
        validate=validate.Equal(True, error="the fan must agree to be mailed"),
    )
    form_token = Text(required=True, validate=validate.Length(max=1000))
    website = Text(
        load_default="",
        validate=validate.Length(max=500),
        metadata={"description": "Leave empty (hidden from people; bots fill it in)."},
    )


class SignupAccepted(Schema):
    message = fields.String(required=True)


class ConfirmRequest(Schema):
    token = Text(required=True, validate=validate.Length(min=1, max=200))


class SignupConfirmed(Schema):
    artist = fields.String(required=True)
    slug = fields.String(required=True)


# -- the form token --------------------------------------------------------------------------
def form_token(settings: Settings, slug: str) -> str:
    now = time.time()
    claims = {"aud": FORM_AUDIENCE, "sub": slug, "iat": now, "exp": now + FORM_TTL_S}
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def filled_by_a_person(settings: Settings, slug: str, token: str) -> bool:
    """Whether the form token is ours, for this page, and old enough for a person's typing."""
    try:
        claims = jwt.decode(
            token, settings.jwt_secret, algorithms=["HS256"], audience=FORM_AUDIENCE
        )
    except jwt.PyJWTError:
        return False
    return claims.get("sub") == slug and time.time() - claims["iat"] >= (
        settings.fan_signup_min_fill_s
    )


def _mail(page: ArtistPage, email: str, token: str) -> None:
    settings = platform().settings
    name = " ".join(page.name.split())
    days = max(1, settings.fan_signup_ttl_s // 86400)
    owner = pages.page_owner(session=db(), org_id=page.org_id)
    send_mail(
        owner,
        email,
        f"Confirm your subscription to {name}",
        f"Someone (hopefully you) signed this address up for news from {name}.\n\n"
        f'To confirm, POST the token as JSON {{"token": "..."}} to '
        f"{settings.public_base_url}/api/v1/public/fans/confirm\n\n"
        f"Token: {token}\n\n"
        f"It works once, for {days} day{'s' if days != 1 else ''}. If it was not you, ignore "
        "this mail: you will not hear from us again.",
        org_id=page.org_id,
    )


# -- views -----------------------------------------------------------------------------------
@blp.route("/fans/page")
class MyPage(MethodView):
    @blp.response(200, PageRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self) -> ArtistPage:
        """The artist's public page settings"""
        return pages.page_of(session=db(), org_id=current_org_id())

    @blp.arguments(PageWrite)
    @blp.response(200, PageRead)
    @blp.alt_response(409, description="Another artist has this slug.")
    @blp.doc(security=BEARER)
    @auth_required
    def put(self, body: dict[str, Any]) -> ArtistPage:
        """Create or change the artist's public page (its slug is its address)"""
        page = pages.save_page(session=db(), org_id=current_org_id(), values=body)
        db().commit()
        return page


@blp.route("/public/artists/<string:slug>")
class PublicArtist(MethodView):
    @blp.response(200, PublicPage)
    def get(self, slug: str) -> dict[str, Any]:
        """An artist's public page: name, bio, links, approved releases, and a form token"""
        page = pages.published_page(session=db(), slug=slug)
        return {
            "slug": page.slug,
            "name": page.name,
            "bio": page.bio,
            "links": page.links,
            "releases": releases.approved_releases(session=db(), org_id=page.org_id),
            "form_token": form_token(platform().settings, page.slug),
        }


@blp.route("/public/artists/<string:slug>/fans")
class PublicSignup(MethodView):
    @limits.per_ip("rate_limit_fan_signup")
    @blp.arguments(SignupCreate)
    @blp.response(202, SignupAccepted)
    @blp.alt_response(429, description="Too many sign-ups from this IP or to this artist.")
    def post(self, body: dict[str, Any], slug: str) -> dict[str, str]:
        """Sign up for an artist's news; the fan is added once they confirm from the mail"""
        settings = platform().settings
        page = pages.published_page(session=db(), slug=slug)
        if body["website"] or not filled_by_a_person(settings, page.slug, body["form_token"]):
            return ACCEPTED  # a bot: it learns nothing, and spends no one's count
        if not limits.allows("rate_limit_fan_signup_artist", page.slug):
            raise LimitReached(
                "this artist is receiving too many sign-ups; try again later",
                retry_after_s=60,
                details={"per": "artist"},
            )
        signup = pages.sign_up(
            session=db(), org_id=page.org_id, values=body, ttl_s=settings.fan_signup_ttl_s
        )
        if signup.token is not None and limits.allows_mail_to(
            "rate_limit_fan_signup_mail", signup.email
        ):
            _mail(page, signup.email, signup.token)
        db().commit()
        return ACCEPTED


@blp.route("/public/fans/confirm")
class ConfirmSignup(MethodView):
    @limits.per_ip("rate_limit_fan_signup")
    @blp.arguments(ConfirmRequest)
    @blp.response(200, SignupConfirmed)
    @blp.alt_response(422, description="Invalid, expired or used token.")
    def post(self, body: dict[str, Any]) -> dict[str, str]:
        """Confirm a sign-up with the mailed token: the address joins the artist's fans"""
        page, email = pages.confirm_signup(session=db(), token=body["token"])
        fan = find_by_email(session=db(), org_id=page.org_id, email=email)
        if fan is not None:  # the artist's sequences that a confirmed fan starts
            enrol_on_event(
                session=db(),
                trigger=Trigger.FAN_CONFIRMED,
                org_id=page.org_id,
                email=fan.email,
                recipient={"kind": "fan", "id": str(fan.id), "name": fan.name or "",
                           "first_name": (fan.name or "").split(" ")[0],
                           "country": fan.country, "status": fan.status},
            )  # fmt: skip
        db().commit()
        return {"artist": page.name, "slug": page.slug}
