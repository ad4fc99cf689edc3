"""The avatar proxy: signed links only, allowed CDN hosts only, pictures capped, HEIC turned
into JPEG, each picture fetched once and served with cache headers."""

from __future__ import annotations

import dataclasses
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pillow_heif import register_heif_opener

from web import create_app
from web.influencers.media import avatar_path
from workers.core.setup import Platform

register_heif_opener()


def _picture(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out, kind)
    return out.getvalue()


PICTURES = {
    "/a.png": (b"image/png", _picture("PNG")),
    "/a.heic": (b"image/heic", _picture("HEIF")),
    "/page.html": (b"text/html", b"<html>not a picture</html>"),
    "/huge.png": (b"image/png", b"\x89PNG" + b"0" * 20_000),
}
FETCHES: list[str] = []


class _Cdn(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        FETCHES.append(self.path)
        media_type, body = PICTURES.get(self.path, (b"text/plain", b""))
        self.send_response(200 if self.path in PICTURES else 404)
        self.send_header("Content-Type", media_type.decode())
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def cdn() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Cdn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FETCHES.clear()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def app(tx_platform: Platform, tmp_path: Path) -> Flask:
    settings = tx_platform.settings.replace(
        influencer_avatar_hosts=("127.0.0.1",),
        outbound_allowed_networks=("127.0.0.1/32",),  # the test's CDN is on loopback
        influencer_avatar_max_bytes=10_000,
        storage_url=str(tmp_path),
    )
    return create_app(platform=dataclasses.replace(tx_platform, settings=settings))


def proxied(app: Flask, url: str) -> str:
    with app.app_context():
        path = avatar_path(url)
    assert path is not None
    return path


def test_a_picture_is_fetched_once_and_served_with_cache_headers(
    app: Flask, client: FlaskClient, cdn: str
) -> None:
    path = proxied(app, f"{cdn}/a.png")

    first = client.get(path)
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"].strip('"')})

    assert first.status_code == 200
    assert first.mimetype == "image/png"
    assert first.data == PICTURES["/a.png"][1]
    assert "max-age" in first.headers["Cache-Control"]
    assert again.status_code == 304
    assert FETCHES == ["/a.png"]


def test_heic_comes_back_as_jpeg(app: Flask, client: FlaskClient, cdn: str) -> None:
    response = client.get(proxied(app, f"{cdn}/a.heic"))
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(response.data)).size == (8, 8)


def test_only_signed_links_to_allowed_hosts_are_fetched(
    app: Flask, client: FlaskClient, cdn: str
) -> None:
    forged = client.get(
        "/api/v1/media/avatar/" + proxied(app, f"{cdn}/a.png").rsplit("/", 1)[1][:-2] + "xx"
    )
    other_host = client.get(proxied(app, "http://example.com/a.png"))
    private = client.get(proxied(app, "http://10.0.0.5/a.png"))
    assert [forged.status_code, other_host.status_code, private.status_code] == [404, 404, 404]
    assert FETCHES == []


def test_not_a_picture_and_too_large_are_refused(app: Flask, client: FlaskClient, cdn: str) -> None:
    assert client.get(proxied(app, f"{cdn}/page.html")).status_code == 422
    assert client.get(proxied(app, f"{cdn}/huge.png")).status_code == 413
    assert client.get(proxied(app, f"{cdn}/missing.png")).status_code == 422
