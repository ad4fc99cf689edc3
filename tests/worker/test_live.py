"""The live domain's jobs with a real worker: an uploaded effect checked (Pillow, mutagen)
and then played with its asset served to the overlay link only; a bad file refused with the
reason; idle sessions ended by the periodic job, their overlays told."""

from __future__ import annotations

import dataclasses
import io
import uuid
import wave
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import text

from config import Settings
from models.core.jobs import JobStatus
from tests.conftest import access_token, make_user, org_of
from tests.worker.conftest import RunningWorker, submit_job, wait_for
from web import create_app
from workers.core.setup import Platform

LIVE = "/api/v1/live"


@pytest.fixture()
def stack(
    committed_platform: Platform, settings: Settings, tmp_path: Path
) -> Iterator[tuple[Platform, FlaskClient]]:
    overrides = {"storage_url": str(tmp_path / "storage")}
    worker = RunningWorker(settings.replace(**overrides)).start()
    platform = dataclasses.replace(
        committed_platform, settings=committed_platform.settings.replace(**overrides)
    )
    yield platform, create_app(platform=platform).test_client()
    worker.stop()


def creator(platform: Platform) -> tuple[dict[str, str], uuid.UUID]:
    with platform.sessions() as session:
        user = make_user(session)
        session.execute(
            text("UPDATE organizations SET tier = 'creator' WHERE id = :id"),
            {"id": org_of(session, user.id)},
        )
        session.commit()
        return {"Authorization": f"Bearer {access_token(platform, session, user)}"}, user.id


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (120, 80), (0, 200, 100, 200)).save(out, "PNG")
    return out.getvalue()


def wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(b"\0\0" * int(22050 * seconds))
    return out.getvalue()


def upload(client: FlaskClient, auth: dict[str, str], content: bytes, **form: Any) -> Any:
    answer = client.post(
        f"{LIVE}/effects",
        data={"file": (io.BytesIO(content), "asset"), "category": "reaction", **form},
        content_type="multipart/form-data",
        headers=auth,
    )
    assert answer.status_code == 202, answer.json
    return answer.json


def effect_of(client: FlaskClient, auth: dict[str, str], name: str) -> Any:
    items = client.get(f"{LIVE}/effects", headers=auth).json["items"]
    return next(e for e in items if e["name"] == name)


def test_an_uploaded_image_is_checked_then_played_with_its_asset_behind_the_link(
    stack: tuple[Platform, FlaskClient],
) -> None:
    platform, client = stack
    auth, _ = creator(platform)
    job = upload(client, auth, png(), name="Green wave", duration_ms="1500")
    assert wait_for(platform, uuid.UUID(job["id"])).status == JobStatus.SUCCEEDED
    effect = effect_of(client, auth, "Green wave")
    assert (effect["status"], effect["duration_ms"]) == ("passed", 1500)

    live = client.post(
        f"{LIVE}/sessions", json={"platform": "twitch", "title": "t"}, headers=auth
    ).json
    played = client.post(
        f"{LIVE}/sessions/{live['id']}/effects", json={"effect_id": effect["id"]}, headers=auth
    )
    assert played.status_code == 201, played.json
    asset = played.json["effect"]["asset_url"]
    assert asset == f"{LIVE}/overlay/{live['id']}/effects/{effect['id']}/asset"
    token = client.post(f"{LIVE}/sessions/{live['id']}/overlays", json={}, headers=auth).json
    image = client.get(f"{asset}?token={token['token']}")
    assert image.status_code == 200
    assert image.mimetype == "image/png"
    assert image.data == png()
    assert client.get(asset).status_code == 401
    assert client.get(asset, headers=auth).status_code == 401  # a user's token is not a link


def test_a_sound_takes_its_own_length_and_a_bad_file_fails_with_the_reason(
    stack: tuple[Platform, FlaskClient],
) -> None:
    platform, client = stack
    auth, _ = creator(platform)
    sound = upload(client, auth, wav(1.25), name="Ding", category="sound")
    junk = upload(client, auth, b"<script>alert(1)</script>", name="Junk")
    assert wait_for(platform, uuid.UUID(sound["id"])).status == JobStatus.SUCCEEDED
    assert wait_for(platform, uuid.UUID(junk["id"])).status == JobStatus.SUCCEEDED
    ding = effect_of(client, auth, "Ding")
    assert (ding["status"], ding["duration_ms"]) == ("passed", 1250)
    bad = effect_of(client, auth, "Junk")
    assert bad["status"] == "failed"
    assert "upload an image" in bad["problem"]

    live = client.post(
        f"{LIVE}/sessions", json={"platform": "kick", "title": "t"}, headers=auth
    ).json
    refused = client.post(
        f"{LIVE}/sessions/{live['id']}/effects", json={"effect_id": bad["id"]}, headers=auth
    )
    assert refused.status_code == 409
    assert "failed its check" in refused.json["message"]


def test_a_sound_shorter_than_the_minimum_plays_for_the_minimum(
    stack: tuple[Platform, FlaskClient],
) -> None:
    platform, client = stack
    auth, _ = creator(platform)
    blip = upload(client, auth, wav(0.05), name="Blip", category="sound")
    assert wait_for(platform, uuid.UUID(blip["id"])).status == JobStatus.SUCCEEDED
    effect = effect_of(client, auth, "Blip")
    assert (effect["status"], effect["duration_ms"]) == ("passed", 200)

    live = client.post(
        f"{LIVE}/sessions", json={"platform": "twitch", "title": "t"}, headers=auth
    ).json
    played = [
        client.post(
            f"{LIVE}/sessions/{live['id']}/effects", json={"effect_id": effect["id"]}, headers=auth
        ).json
        for _ in range(2)
    ]
    starts, ends = (datetime.fromisoformat(played[0][k]) for k in ("starts_at", "ends_at"))
    assert ends - starts == timedelta(milliseconds=200)
    assert played[1]["starts_at"] == played[0]["ends_at"]
    assert played[0]["effect"]["duration_ms"] == 200


def test_a_session_idle_past_the_limit_is_ended_by_the_periodic_job(
    stack: tuple[Platform, FlaskClient], owner: uuid.UUID
) -> None:
    platform, client = stack
    auth, _ = creator(platform)
    idle = client.post(
        f"{LIVE}/sessions", json={"platform": "twitch", "title": "idle"}, headers=auth
    ).json
    busy = client.post(
        f"{LIVE}/sessions", json={"platform": "youtube", "title": "busy"}, headers=auth
    ).json
    limit_s = platform.settings.live_session_idle_s
    with platform.sessions.begin() as session:
        session.execute(
            text("UPDATE live_sessions SET last_activity_at = :at WHERE id = :id"),
            {"at": datetime.now(UTC) - timedelta(seconds=limit_s + 60), "id": idle["id"]},
        )
    job = submit_job(
        platform, owner, "live.end_idle_sessions", {"slot": datetime.now(UTC).isoformat()}
    )
    done = wait_for(platform, job)
    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.result["ended"] >= 1

    ended = client.get(f"{LIVE}/sessions/{idle['id']}", headers=auth).json
    assert (ended["status"], ended["ended_reason"]) == ("ended", "idle")
    assert client.get(f"{LIVE}/sessions/{busy['id']}", headers=auth).json["status"] == "active"
    log = client.get(f"{LIVE}/sessions/{idle['id']}/events", headers=auth).json["items"]
    assert [(e["type"], e["reason"]) for e in log] == [("session_ended", "idle")]
