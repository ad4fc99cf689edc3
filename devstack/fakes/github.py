"""A local GitHub OAuth app's side of GitHub: /login/oauth/authorize, the token exchange at
/login/oauth/access_token (with PKCE, S256), and the REST API's /user and /user/emails under
/api/v3, as GitHub Enterprise serves them.

As GitHub does, the token endpoint answers errors with HTTP 200 and an `error` field
(`bad_verification_code` for a spent or unknown code), and form-encoded unless asked for
JSON. /authorize signs in whoever `login` names (an address here; a form asks when it is
missing); `fake_email_verified=false` makes that address unverified.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from html import escape
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, redirect, request

from devstack.fakes import Fake

CLIENT_ID = "Iv1.fakebackline0001"
CLIENT_SECRET = "fake-github-secret"  # noqa: S105 - the fake's own, public by design


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def create_app() -> Flask:
    app = Flask("fake-github")
    codes: dict[str, dict[str, Any]] = {}
    tokens: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    @app.get("/login/oauth/authorize")
    def authorize() -> Any:
        args = request.args
        if args.get("client_id") != CLIENT_ID:
            return "The client_id is not valid.", 404
        email = args.get("login")
        if not email:
            fields = "".join(
                f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                for k, v in args.items()
            )
            return (
                "<!doctype html><title>Sign in to GitHub (fake)</title><form>"
                f'{fields}<label>E-mail <input name="login" type="email"></label>'
                "<button>Authorize</button></form>"
            )
        code = secrets.token_hex(10)
        with lock:
            codes[code] = {
                "redirect_uri": args.get("redirect_uri"),
                "challenge": args.get("code_challenge"),
                "email": email,
                "verified": args.get("fake_email_verified", "true") != "false",
            }
        query = urlencode({"code": code, "state": args.get("state", "")})
        return redirect(f"{args['redirect_uri']}?{query}")

    def answer(body: dict[str, Any]) -> Any:
        if "json" in request.headers.get("Accept", ""):
            return jsonify(body)
        return Response(urlencode(body), content_type="application/x-www-form-urlencoded")

    @app.post("/login/oauth/access_token")
    def access_token() -> Any:
        form = request.form
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return answer({"error": "incorrect_client_credentials"})
        with lock:
            grant = codes.pop(form.get("code", ""), None)
        bad = {"error": "bad_verification_code", "error_description": "The code passed is "
               "incorrect or expired."}  # fmt: skip
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return answer(bad)
        if grant["challenge"] and _s256(form.get("code_verifier", "")) != grant["challenge"]:
            return answer(bad)
        token = "gho_" + secrets.token_hex(18)
        with lock:
            tokens[token] = grant
        return answer(
            {"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}
        )

    def holder() -> dict[str, Any] | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return tokens.get(token) if scheme.lower() in ("bearer", "token") else None

    def unauthorized() -> Any:
        return jsonify(message="Requires authentication", status="401"), 401

    @app.get("/api/v3/user")
    def user() -> Any:
        grant = holder()
        if grant is None:
            return unauthorized()
        number = int(hashlib.sha256(grant["email"].encode()).hexdigest()[:7], 16)
        login = grant["email"].split("@", 1)[0]
        return jsonify(id=number, login=login, name=None, email=None, type="User")

    @app.get("/api/v3/user/emails")
    def emails() -> Any:
        grant = holder()
        if grant is None:
            return unauthorized()
        return jsonify(
            [{"email": grant["email"], "primary": True, "verified": grant["verified"],
              "visibility": "private"}]
        )  # fmt: skip

    return app


FAKE = Fake(
    name="GitHub sign-in",
    base_url_variable="GITHUB_BASE_URL",
    key_variable="GITHUB_CLIENT_ID",
    create_app=create_app,
    env={"GITHUB_CLIENT_ID": CLIENT_ID, "GITHUB_CLIENT_SECRET": CLIENT_SECRET},
)
