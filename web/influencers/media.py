"""The avatar proxy: creators' pictures served from Backline, since the platforms' CDN links
expire and refuse hot-linking.

A creator's `avatar_proxy_url` carries its CDN URL signed with the API's secret, so the proxy
fetches only URLs Backline handed out (it is no open proxy), and only from the CDN hosts of
INFLUENCER_AVATAR_HOSTS, through the client that refuses private and loopback addresses. The
fetch is capped in size and time, HEIC/HEIF pictures are converted to JPEG, and the result is
kept in storage so each picture is fetched once; answers carry cache headers.
"""

from __future__ import annotations

import hashlib
import io
from urllib.parse import urlsplit

import httpx
from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from itsdangerous import BadSignature, URLSafeSerializer

from models.core.errors import InvalidInput, NotFound, TooLarge
from web.core.context import platform
from workers.clients.outbound import public_client
from workers.core.storage import storage

blp = Blueprint(
    "media", __name__, url_prefix="/api/v1/media", description="Creators' avatars, proxied."
)
CACHE_SECONDS = 7 * 24 * 3600
SALT = "influencers.avatar"
IMAGE_TYPES = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG": "image/png",
    b"GIF8": "image/gif",
}


class UpstreamFailed(InvalidInput):
    """The CDN did not give a picture."""

    code = "avatar_unavailable"


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(platform().settings.jwt_secret, salt=SALT)


def avatar_path(url: str) -> str | None:
    """The proxy's path for a CDN URL (None for no picture)."""
    if not url:
        return None
    return f"/api/v1/media/avatar/{_signer().dumps(url)}"


def _allowed(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme in ("http", "https") and any(
        host == allowed or host.endswith("." + allowed)
        for allowed in platform().settings.influencer_avatar_hosts
    )


def _media_type(body: bytes) -> str | None:
    for magic, media_type in IMAGE_TYPES.items():
        if body.startswith(magic):
            return media_type
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "image/webp"
    if body[4:8] == b"ftyp" and body[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heif"):
        return "image/heic"
    return None


def _to_jpeg(body: bytes) -> bytes:
    from PIL import Image  # noqa: PLC0415 - only HEIC pictures need it
    from pillow_heif import register_heif_opener  # noqa: PLC0415

    register_heif_opener()
    with Image.open(io.BytesIO(body)) as picture:
        out = io.BytesIO()
        picture.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def _fetch(url: str) -> bytes:
    settings = platform().settings
    cap = settings.influencer_avatar_max_bytes
    body = bytearray()
    try:
        with (
            public_client(settings, timeout=settings.influencer_avatar_timeout_s) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise UpstreamFailed(f"the CDN answered {response.status_code}")
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > cap:
                    raise TooLarge(cap)
    except httpx.HTTPError as exc:
        raise UpstreamFailed(f"the CDN could not be reached ({type(exc).__name__})") from None
    return bytes(body)


def _picture(url: str) -> bytes:
    """The picture at `url`, from storage when fetched before."""
    files = storage(platform().settings)
    key = f"influencers/avatars/{hashlib.sha256(url.encode()).hexdigest()}"
    if files.exists(key):
        with files.open(key) as stored:
            return stored.read()
    body = _fetch(url)
    media_type = _media_type(body)
    if media_type is None:
        raise UpstreamFailed("the CDN's answer is not a picture")
    if media_type == "image/heic":
        body = _to_jpeg(body)
    files.put(key, io.BytesIO(body))
    return body


@blp.route("/avatar/<string:token>")
class Avatar(MethodView):
    @blp.response(200, content_type="image/jpeg")
    @blp.alt_response(404, description="Not a link Backline made, or not a CDN it fetches from.")
    @blp.alt_response(413, description="The picture is larger than Backline fetches.")
    @blp.alt_response(422, description="The CDN did not give a picture.")
    def get(self, token: str) -> Response:
        """A creator's avatar, fetched from its platform's CDN once and cached"""
        try:
            url = str(_signer().loads(token))
        except BadSignature:
            raise NotFound("avatar not found") from None
        if not _allowed(url):
            raise NotFound("avatar not found")
        body = _picture(url)
        etag = hashlib.sha256(body).hexdigest()[:32]
        response = Response(body, mimetype=_media_type(body) or "application/octet-stream")
        response.set_etag(etag)
        response.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}, immutable"
        response.make_conditional(request)
        return response
