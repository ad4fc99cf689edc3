"""Signing in with an OpenID Connect provider (Google, or its local fake): the
authorization-code flow with PKCE, through Authlib's httpx client, and the ID token checked
with joserfc against the provider's published keys.

The API calls it during a sign-in (the provider's token endpoint answers in well under a
second), not from a job: the user is waiting for the answer. What is checked on the ID token:
its signature (a key of the provider's JWKS, RS256 only), `iss` (the discovery document's
issuer), `aud` (our client id: a token minted for another client is refused), `exp`, and
`nonce` (the one this sign-in sent, so a token from another sign-in cannot be replayed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx2
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from models.core.errors import AuthenticationFailed

TIMEOUT_S = 10.0
METADATA_TTL_S = 300
_METADATA: dict[str, tuple[float, dict[str, Any], KeySet]] = {}


@dataclass(frozen=True)
class Provider:
    name: str  # "google"
    issuer_url: str
    client_id: str
    client_secret: str


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in."""

    subject: str
    email: str | None
    email_verified: bool


class ProviderFailed(AuthenticationFailed):
    """The provider refused the sign-in, or its answer did not pass our checks."""

    code = "provider_sign_in_failed"


def _metadata(provider: Provider) -> tuple[dict[str, Any], KeySet]:
    """The discovery document and the signing keys, cached for a few minutes."""
    cached = _METADATA.get(provider.issuer_url)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1], cached[2]
    base = provider.issuer_url.rstrip("/")
    try:
        document = httpx2.get(f"{base}/.well-known/openid-configuration", timeout=TIMEOUT_S)
        document.raise_for_status()
        metadata = document.json()
        keys = httpx2.get(metadata["jwks_uri"], timeout=TIMEOUT_S)
        keys.raise_for_status()
        key_set = KeySet.import_key_set(keys.json())
    except (httpx2.HTTPError, KeyError, ValueError) as error:
        raise ProviderFailed(f"{provider.name} cannot be reached; try again later") from error
    _METADATA[provider.issuer_url] = (time.monotonic() + METADATA_TTL_S, metadata, key_set)
    return metadata, key_set


def _client(provider: Provider, redirect_uri: str) -> OAuth2Client:
    return OAuth2Client(
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        scope="openid email profile",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method's name
        timeout=TIMEOUT_S,
    )


def authorization_url(
    provider: Provider, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
) -> str:
    metadata, _ = _metadata(provider)
    with _client(provider, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            metadata["authorization_endpoint"],
            state=state,
            nonce=nonce,
            code_verifier=code_verifier,
        )
    return str(url)


def finish(
    provider: Provider, *, redirect_uri: str, code: str, code_verifier: str, nonce: str
) -> Identity:
    """Trade the code for tokens and check the ID token; ProviderFailed if anything is off."""
    metadata, keys = _metadata(provider)
    with _client(provider, redirect_uri) as client:
        try:
            token = client.fetch_token(
                metadata["token_endpoint"], code=code, code_verifier=code_verifier
            )
        except (OAuthError, httpx2.HTTPError) as error:
            raise ProviderFailed(f"{provider.name} refused the sign-in") from error
    try:
        decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": provider.client_id},
            sub={"essential": True},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(decoded.claims)
    except (JoseError, KeyError, ValueError) as error:
        raise ProviderFailed(
            f"the ID token from {provider.name} did not pass the checks"
        ) from error
    claims = decoded.claims
    return Identity(
        subject=str(claims["sub"]),
        email=claims.get("email"),
        email_verified=claims.get("email_verified") is True,
    )
