"""Signing in with GitHub (OAuth 2.0, not OpenID Connect): the authorization-code flow with
PKCE through Authlib's httpx client, then who signed in from the REST API (/user, and
/user/emails for the primary address and whether GitHub verified it).

GitHub has no ID token, hence no nonce nor audience to check: the code is only good with our
client secret and the PKCE verifier this sign-in holds. Its token endpoint answers errors with
HTTP 200 and an `error` field, which Authlib raises as OAuthError.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx2
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client

from workers.clients.oidc import Identity, ProviderFailed

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class GitHub:
    client_id: str
    client_secret: str
    base_url: str  # https://github.com, or a GitHub Enterprise host

    @property
    def api_url(self) -> str:
        if self.base_url.rstrip("/") == "https://github.com":
            return "https://api.github.com"
        return self.base_url.rstrip("/") + "/api/v3"


def _client(github: GitHub, redirect_uri: str) -> OAuth2Client:
    return OAuth2Client(
        client_id=github.client_id,
        client_secret=github.client_secret,
        scope="read:user user:email",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method's name
        timeout=TIMEOUT_S,
    )


def authorization_url(
    github: GitHub, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
) -> str:
    """The URL to send the browser to (`nonce` is OpenID Connect's: GitHub takes none)."""
    with _client(github, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            f"{github.base_url.rstrip('/')}/login/oauth/authorize",
            state=state,
            code_verifier=code_verifier,
        )
    return str(url)


def finish(
    github: GitHub, *, redirect_uri: str, code: str, code_verifier: str, nonce: str
) -> Identity:
    with _client(github, redirect_uri) as client:
        try:
            client.fetch_token(
                f"{github.base_url.rstrip('/')}/login/oauth/access_token",
                code=code,
                code_verifier=code_verifier,
                headers={"Accept": "application/json"},
            )
            user = client.get(f"{github.api_url}/user", headers=_API)
            user.raise_for_status()
            emails = client.get(f"{github.api_url}/user/emails", headers=_API)
            emails.raise_for_status()
        except (OAuthError, httpx2.HTTPError) as error:
            raise ProviderFailed("github refused the sign-in") from error
    primary = next((e for e in emails.json() if e.get("primary")), None)
    return Identity(
        subject=str(user.json()["id"]),
        email=primary["email"] if primary else None,
        email_verified=bool(primary and primary.get("verified") is True),
    )


_API = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
