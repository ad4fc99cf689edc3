"""/api/v1/auth/providers: sign in with Google (OpenID Connect) or GitHub (OAuth 2.0), link
and unlink providers. `google` below may be `github` throughout.

    POST /auth/providers/google/start         -> {"authorization_url": ...}; send the browser there
    GET  /auth/providers/google/callback      <- the provider sends it back with code and state
                                              -> the same tokens as a password login
    POST /auth/providers/confirm-link         {link_token, password}: link to an existing account
    POST /auth/providers/google/link          (signed in) the same, to add Google to your account
    GET  /auth/identities, DELETE /auth/identities/<id>

The rules that keep accounts from being taken over live in models/accounts/identities.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from config import Settings
from models.accounts import identities, logins
from models.accounts import users as accounts
from models.accounts.devices import parse_user_agent
from models.accounts.identities import ProviderIdentity, Verified
from models.accounts.users import User, utcnow
from models.billing import start_trial
from models.core.errors import AuthenticationFailed, NotFound
from models.mail import Trigger, enrol_on_event
from models.orgs import primary_org_id
from web.accounts.auth import TokenPair, issue_tokens, notice_new_country
from web.core import limits
from web.core.auth import BEARER, auth_required, client_ip
from web.core.context import db, platform
from web.core.fields import Text
from workers.clients import github, oidc

blp = Blueprint(
    "providers", __name__, url_prefix="/api/v1/auth", description="Sign in with a provider."
)


class StartRequest(Schema):
    use_cookies = fields.Boolean(load_default=False)


class StartAnswer(Schema):
    authorization_url = fields.String(required=True)


class CallbackQuery(Schema):
    code = Text(validate=validate.Length(min=1, max=2000))
    state = Text(required=True, validate=validate.Length(min=1, max=200))
    error = Text(validate=validate.Length(max=200))


class ConfirmLinkRequest(Schema):
    link_token = Text(required=True, validate=validate.Length(min=1, max=200))
    password = Text(required=True, load_only=True, validate=validate.Length(max=1024))
    use_cookies = fields.Boolean(load_default=False)


class IdentityRead(Schema):
    id = fields.UUID(required=True)
    provider = fields.String(required=True)
    email = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)


@dataclass(frozen=True)
class Offered:
    """A provider's two steps: the URL to send the browser to, and who came back."""

    authorization_url: Callable[..., str]  # redirect_uri, state, nonce, code_verifier
    finish: Callable[..., oidc.Identity]  # redirect_uri, code, code_verifier, nonce


def providers(settings: Settings) -> dict[str, Offered]:
    """The providers this deployment offers (those with a client id)."""
    offered = {}
    if settings.google_client_id:
        google = oidc.Provider(
            name="google",
            issuer_url=settings.google_issuer_url,
            client_id=settings.google_client_id,
            client_secret=settings.google_client_secret,
        )
        offered["google"] = Offered(
            partial(oidc.authorization_url, google), partial(oidc.finish, google)
        )
    if settings.github_client_id:
        hub = github.GitHub(
            settings.github_client_id, settings.github_client_secret, settings.github_base_url
        )
        offered["github"] = Offered(
            partial(github.authorization_url, hub), partial(github.finish, hub)
        )
    return offered


def _provider(name: str) -> Offered:
    found = providers(platform().settings).get(name)
    if found is None:
        raise NotFound("no such sign-in provider here", details={"provider": name})
    return found


def _redirect_uri(name: str) -> str:
    return f"{platform().settings.public_base_url}/api/v1/auth/providers/{name}/callback"


def _start(name: str, *, link_user_id: uuid.UUID | None, use_cookies: bool) -> dict[str, str]:
    provider = _provider(name)
    pending = identities.begin(
        session=db(),
        provider=name,
        ttl_s=platform().settings.provider_sign_in_ttl_s,
        link_user_id=link_user_id,
        use_cookies=use_cookies,
    )
    url = provider.authorization_url(
        redirect_uri=_redirect_uri(name),
        state=pending.state,
        nonce=pending.nonce,
        code_verifier=pending.code_verifier,
    )
    db().commit()
    return {"authorization_url": url}


def _signed_in(user: User, *, provider: str, use_cookies: bool) -> dict[str, Any]:
    """A login session like a password login's, with its attempt on the audit."""
    settings = platform().settings
    user_agent = request.headers.get("User-Agent")
    device = parse_user_agent(user_agent)
    logins.record_attempt(
        session=db(),
        email=user.email,
        ip=client_ip(),
        device=device,
        user_agent=user_agent,
        outcome=logins.Outcome.SUCCESS,
        at=utcnow(),
    )
    auth_session, refresh = accounts.start_session(
        session=db(),
        user=user,
        ttl_s=settings.refresh_token_ttl_s,
        ip=client_ip(),
        user_agent=user_agent,
        device=device.as_dict(),
        provider=provider,
    )
    notice_new_country(user, auth_session)
    db().commit()
    return issue_tokens(user, auth_session, refresh, use_cookies=use_cookies)


@blp.route("/providers/<string:name>/start")
class Start(MethodView):
    @limits.per_ip("rate_limit_login")
    @blp.arguments(StartRequest)
    @blp.response(200, StartAnswer)
    def post(self, body: dict[str, Any], name: str) -> dict[str, str]:
        """Begin signing in with a provider: send the browser to the URL answered"""
        return _start(name, link_user_id=None, use_cookies=body["use_cookies"])


@blp.route("/providers/<string:name>/link")
class Link(MethodView):
    @limits.per_ip("rate_limit_login")
    @blp.arguments(StartRequest)
    @blp.response(200, StartAnswer)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any], name: str) -> dict[str, str]:
        """Begin linking a provider to your account: send the browser to the URL answered"""
        return _start(name, link_user_id=g.user.id, use_cookies=body["use_cookies"])


@blp.route("/providers/<string:name>/callback")
class Callback(MethodView):
    @limits.per_ip("rate_limit_login")
    @blp.arguments(CallbackQuery, location="query")
    @blp.response(200, TokenPair)
    def get(self, query: dict[str, Any], name: str) -> dict[str, Any]:
        """Where the provider sends the browser back: answers tokens, as a login does

        409 link_needs_password when an account already has the provider's verified address
        (details.link_token, for confirm-link); 403 provider_address_unverified when the
        provider has not verified it.
        """
        provider = _provider(name)
        pending = identities.take(session=db(), provider=name, state=query["state"])
        db().commit()  # the state is spent whatever happens next
        if "code" not in query:
            raise AuthenticationFailed(f"{name} did not sign you in ({query.get('error')})")
        found = provider.finish(
            redirect_uri=_redirect_uri(name),
            code=query["code"],
            code_verifier=pending.code_verifier,
            nonce=pending.nonce,
        )
        who = Verified(name, found.subject, found.email, found.email_verified)
        try:
            user, new_account = identities.resolve(
                session=db(),
                who=who,
                link_user_id=pending.link_user_id,
                link_ttl_s=platform().settings.provider_sign_in_ttl_s,
            )
        except identities.LinkNeedsPassword:
            db().commit()  # keep the link token
            raise
        if new_account:
            org_id = primary_org_id(session=db(), user_id=user.id)
            if org_id is not None:
                start_trial(session=db(), org_id=org_id, days=platform().settings.trial_days)
                enrol_on_event(session=db(), trigger=Trigger.TRIAL_STARTED, org_id=org_id)
        return _signed_in(user, provider=name, use_cookies=pending.use_cookies)


@blp.route("/providers/confirm-link")
class ConfirmLink(MethodView):
    @limits.per_ip("rate_limit_login")  # checks a password, like login
    @blp.arguments(ConfirmLinkRequest)
    @blp.response(200, TokenPair)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Link a provider to the account that has its address, with that account's password"""
        user, provider = identities.confirm_link(
            session=db(), token=body["link_token"], password=body["password"]
        )
        return _signed_in(user, provider=provider, use_cookies=body["use_cookies"])


@blp.route("/identities")
class Identities(MethodView):
    @blp.response(200, IdentityRead(many=True))
    @blp.doc(security=BEARER)
    @auth_required
    def get(self) -> list[ProviderIdentity]:
        """The providers linked to your account"""
        return list(identities.identities_of(session=db(), user_id=g.user.id))


@blp.route("/identities/<uuid:identity_id>")
class IdentityItem(MethodView):
    @blp.response(204)
    @blp.doc(security=BEARER)
    @auth_required
    def delete(self, identity_id: uuid.UUID) -> None:
        """Unlink a provider (refused if it is your only way to log in)"""
        identities.unlink(session=db(), user=g.user, identity_id=identity_id)
        db().commit()
