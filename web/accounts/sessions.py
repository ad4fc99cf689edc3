"""/api/v1/auth: the caller's login history and sessions, and ending them.

A session is one login (with the refresh tokens rotated from it). Ending a session stops its
access tokens at once, since every authenticated request checks its session is live.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from models.accounts import logins
from models.accounts.users import AuthSession, LoginAttempt, revoke_all_sessions
from web.core.auth import BEARER, auth_required
from web.core.context import db
from web.core.fields import BigInt

blp = Blueprint(
    "sessions",
    __name__,
    url_prefix="/api/v1/auth",
    description="Login history and sessions of the caller.",
)


class LoginQuery(Schema):
    limit = BigInt(
        load_default=20,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "How many attempts, newest first."},
    )


class LoginAttemptRead(Schema):
    at = fields.DateTime(required=True)
    outcome = fields.String(
        required=True,
        metadata={"description": "success, bad_credentials or throttled."},
    )
    ip = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    device = fields.String(
        allow_none=True, metadata={"description": "desktop, mobile, tablet, bot or other."}
    )
    browser = fields.String(allow_none=True)
    os = fields.String(allow_none=True)
    country = fields.String(allow_none=True, metadata={"description": "ISO 3166-1, from the IP"})
    city = fields.String(allow_none=True)


class SessionRead(Schema):
    id = fields.UUID(required=True)
    created_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(required=True)
    ip = fields.String(allow_none=True)
    device = fields.String(allow_none=True)
    browser = fields.String(allow_none=True)
    os = fields.String(allow_none=True)
    country = fields.String(allow_none=True, metadata={"description": "ISO 3166-1, from the IP"})
    city = fields.String(allow_none=True)
    current = fields.Function(
        lambda s: s.id == g.session_id,
        metadata={"description": "True for the session of the token making this request."},
    )


class LoggedOut(Schema):
    revoked = fields.Integer(required=True, metadata={"description": "Sessions ended."})


@blp.route("/logins")
class Logins(MethodView):
    @blp.arguments(LoginQuery, location="query")
    @blp.response(200, LoginAttemptRead(many=True))
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> Sequence[LoginAttempt]:
        """Recent login attempts on the caller's account, newest first"""
        return logins.recent_attempts(session=db(), user_id=g.user.id, limit=query["limit"])


@blp.route("/sessions")
class Sessions(MethodView):
    @blp.response(200, SessionRead(many=True))
    @blp.doc(security=BEARER)
    @auth_required
    def get(self) -> Sequence[AuthSession]:
        """The caller's live sessions (where they are logged in)"""
        return logins.live_sessions(session=db(), user_id=g.user.id)


@blp.route("/sessions/<uuid:session_id>")
class SessionById(MethodView):
    @blp.response(204)
    @blp.doc(security=BEARER)
    @auth_required
    def delete(self, session_id: uuid.UUID) -> None:
        """End one of the caller's sessions (its tokens stop working at once)"""
        logins.end_session(session=db(), user_id=g.user.id, session_id=session_id)
        db().commit()


@blp.route("/logout-all")
class LogoutAll(MethodView):
    @blp.response(200, LoggedOut)
    @blp.doc(security=BEARER)
    @auth_required
    def post(self) -> dict[str, int]:
        """End every session of the caller, this one included"""
        revoked = revoke_all_sessions(session=db(), user_id=g.user.id)
        db().commit()
        return {"revoked": revoked}
