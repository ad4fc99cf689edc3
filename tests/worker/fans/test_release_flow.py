"""A release end to end over HTTP with a real worker: files uploaded and checked (Pillow,
mutagen), bad files refused with the reason, submitted, approved by an admin, shown on the
artist's public page; the file served through its signed URL only."""

from __future__ import annotations

import dataclasses
import io
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image

from config import Settings
from models.core.jobs import JobStatus
from tests.conftest import access_token, make_user
from tests.worker.conftest import RunningWorker, wait_for
from web import create_app
from workers.core.setup import Platform


@pytest.fixture(params=["local", "s3"])
def stack(
    request: pytest.FixtureRequest, committed_platform: Platform, settings: Settings, tmp_path: Path
) -> Iterator[tuple[Platform, FlaskClient]]:
    """The API and a running worker on one store: a directory of the test's own, or a bucket
    of a local S3-compatible server."""
    overrides = {"storage_url": str(tmp_path / "storage")}
    if request.param == "s3":
        overrides = request.getfixturevalue("s3_settings")
    worker = RunningWorker(settings.replace(**overrides)).start()
    platform = dataclasses.replace(
        committed_platform, settings=committed_platform.settings.replace(**overrides)
    )
    yield platform, create_app(platform=platform).test_client()
    worker.stop()


def headers(platform: Platform, *, admin: bool = False) -> dict[str, str]:
    with platform.sessions() as session:
        user = make_user(session, admin=admin)
        session.commit()
        return {"Authorization": f"Bearer {access_token(platform, session, user)}"}


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), "navy" if mode == "RGB" else 0).save(out, "PNG")
    return out.getvalue()


def wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"\0\0\0\0" * int(44100 * seconds))
    return out.getvalue()


def upload(client: FlaskClient, path: str, content: bytes, auth: dict[str, str]) -> Any:
    answer = client.post(
        path,
        data={"file": (io.BytesIO(content), "f")},
        content_type="multipart/form-data",
        headers=auth,
    )
    assert answer.status_code == 202, answer.json
    return answer.json


def checked(platform: Platform, job: Any) -> dict[str, Any]:
    done = wait_for(platform, uuid.UUID(job["id"]))
    assert done.status == JobStatus.SUCCEEDED, done.error
    return done.result  # type: ignore[return-value]


def test_a_release_goes_from_draft_to_the_public_page(
    stack: tuple[Platform, FlaskClient],
) -> None:
    platform, client = stack
    artist, admin = headers(platform), headers(platform, admin=True)
    client.put("/api/v1/fans/page", json={"slug": "the-band", "name": "The Band"}, headers=artist)
    release = client.post(
        "/api/v1/releases",
        json={"type": "single", "title": "First", "artist_name": "The Band",
              "tracks": [{"title": "Song", "isrc": "USRC17607839"}]},
        headers=artist,
    ).json  # fmt: skip
    path = f"/api/v1/releases/{release['id']}"

    small = checked(platform, upload(client, f"{path}/artwork", png(600, 600), artist))
    grey = checked(platform, upload(client, f"{path}/artwork", png(3000, 3000, "L"), artist))
    not_audio = checked(platform, upload(client, f"{path}/tracks/1/audio", b"ID3" * 99, artist))
    assert small["passed"] is False and "at least 3000" in small["problem"]
    assert grey["passed"] is False and "RGB" in grey["problem"]
    assert not_audio["passed"] is False and "WAV or FLAC" in not_audio["problem"]
    refused = client.post(f"{path}/submit", headers=artist)
    assert refused.status_code == 422
    assert set(refused.json["details"]["fields"]) == {"artwork", "tracks.1.audio"}

    cover = checked(platform, upload(client, f"{path}/artwork", png(3000, 3000), artist))
    audio = checked(platform, upload(client, f"{path}/tracks/1/audio", wav(1.5), artist))
    assert cover == {"passed": True, "problem": None, "format": "PNG", "width": 3000,
                     "height": 3000, "mode": "RGB"}  # fmt: skip
    assert audio["passed"] is True and audio["format"] == "wav"
    assert audio["duration_s"] == 1.5

    submitted = client.post(f"{path}/submit", headers=artist)
    assert submitted.status_code == 200, submitted.json
    assert client.get("/api/v1/public/artists/the-band").json["releases"] == []
    approved = client.post(f"/api/v1/admin/releases/{release['id']}/approve", headers=admin)
    assert approved.json["status"] == "approved"
    public = client.get("/api/v1/public/artists/the-band").json["releases"]
    assert [(r["title"], r["type"]) for r in public] == [("First", "single")]

    files = {f["kind"]: f for f in client.get(path, headers=artist).json["files"]}
    url = client.get(f"{path}/files/{files['audio']['id']}/url", headers=admin).json["url"]
    served = client.get(url.split("localhost", 1)[1])
    assert served.status_code == 200
    assert served.data == wav(1.5)
