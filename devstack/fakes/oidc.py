"""A local OpenID Connect provider in Google's shape: discovery document, JWKS, the
authorization-code flow with PKCE (S256), and RS256-signed ID tokens carrying the nonce.

/authorize signs in whoever `login_hint` names (a form asks when it is missing, for `make
run`), as Google would after its own login page, and redirects back with a one-time code.
Extra parameters let tests play a provider's odd answers: `fake_email_verified=false` (an
address the provider has not verified), `fake_audience=<client id>` (an ID token minted for
another client) and `fake_nonce=` (one minted for another sign-in). /token refuses, as
Google does with `invalid_grant`, a code used twice, a redirect URI or verifier that does
not match.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from html import escape
from typing import Any
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey

from devstack.fakes import Fake

CLIENT_ID = "backline-dev.apps.googleusercontent.example"
CLIENT_SECRET = "fake-google-secret"  # noqa: S105 - the fake's own, public by design
CODE_TTL_S = 60


def _subject(email: str) -> str:
    return str(int(hashlib.sha256(email.lower().encode()).hexdigest()[:15], 16))


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def _error(error: str, description: str, status: int = 400) -> Any:
    return jsonify(error=error, error_description=description), status


def create_app() -> Flask:
    app = Flask("fake-oidc")
    key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "use": "sig"})
    codes: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    def issuer() -> str:
        return request.host_url.rstrip("/")

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Any:
        base = issuer()
        return jsonify(
            issuer=base,
            authorization_endpoint=f"{base}/o/oauth2/v2/auth",
            token_endpoint=f"{base}/token",
            userinfo_endpoint=f"{base}/v1/userinfo",
            jwks_uri=f"{base}/oauth2/v3/certs",
            response_types_supported=["code"],
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=["RS256"],
            scopes_supported=["openid", "email", "profile"],
            token_endpoint_auth_methods_supported=["client_secret_post", "client_secret_basic"],
            code_challenge_methods_supported=["plain", "S256"],
            claims_supported=["aud", "email", "email_verified", "exp", "iat", "iss", "sub"],
        )

    @app.get("/oauth2/v3/certs")
    def jwks() -> Any:
        return jsonify(keys=[key.as_dict(private=False)])

    @app.get("/o/oauth2/v2/auth")
    def authorize() -> Any:
        args = request.args
        if args.get("response_type") != "code" or not args.get("redirect_uri"):
            return _error("invalid_request", "response_type=code and redirect_uri are required")
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            return _error("invalid_request", "PKCE with S256 is required")
        email = args.get("login_hint")
        if not email:
            fields = "".join(
                f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                for k, v in args.items()
            )
            return (
                "<!doctype html><title>Sign in (fake Google)</title><form>"
                f'{fields}<label>E-mail <input name="login_hint" type="email"></label>'
                "<button>Sign in</button></form>"
            )
        code = secrets.token_urlsafe(24)
        with lock:
            codes[code] = {
                "client_id": args.get("client_id"),
                "redirect_uri": args["redirect_uri"],
                "challenge": args["code_challenge"],
                "nonce": args.get("fake_nonce") or args.get("nonce"),
                "email": email,
                "verified": args.get("fake_email_verified", "true") != "false",
                "audience": args.get("fake_audience") or args.get("client_id"),
                "expires": time.time() + CODE_TTL_S,
            }
        query = urlencode({"code": code, "state": args.get("state", "")})
        return redirect(f"{args['redirect_uri']}?{query}")

    @app.post("/token")
    def token() -> Any:
        form = request.form
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if request.authorization is not None:
            client_id, secret = request.authorization.username, request.authorization.password
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return _error("invalid_client", "Unauthorized", 401)
        if form.get("grant_type") != "authorization_code":
            return _error("unsupported_grant_type", "Invalid grant_type")
        with lock:
            grant = codes.pop(form.get("code", ""), None)  # a code works once
        if grant is None or grant["expires"] < time.time() or grant["client_id"] != client_id:
            return _error("invalid_grant", "Malformed auth code.")
        if grant["redirect_uri"] != form.get("redirect_uri"):
            return _error("redirect_uri_mismatch", "Bad Request")
        if _s256(form.get("code_verifier", "")) != grant["challenge"]:
            return _error("invalid_grant", "Invalid code verifier.")
        now = int(time.time())
        claims = {
            "iss": issuer(),
            "aud": grant["audience"],
            "azp": client_id,
            "sub": _subject(grant["email"]),
            "email": grant["email"],
            "email_verified": grant["verified"],
            "iat": now,
            "exp": now + 3600,
            **({"nonce": grant["nonce"]} if grant["nonce"] else {}),
        }
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return jsonify(
            access_token=secrets.token_urlsafe(32),
            expires_in=3599,
            scope="openid email profile",
            token_type="Bearer",  # noqa: S106 - the scheme, not a secret
            id_token=id_token,
        )

    return app


FAKE = Fake(
    name="Google sign-in",
    base_url_variable="GOOGLE_ISSUER_URL",
    key_variable="GOOGLE_CLIENT_ID",
    create_app=create_app,
    env={"GOOGLE_CLIENT_ID": CLIENT_ID, "GOOGLE_CLIENT_SECRET": CLIENT_SECRET},
)
