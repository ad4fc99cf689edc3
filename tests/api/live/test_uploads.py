"""Uploads that are refused leave nothing behind: a file name with control characters, an
organisation whose day's jobs are used up, an organisation that keeps as many uploaded effects
as LIVE_MAX_EFFECT_UPLOADS allows. Storage holds exactly the files of the effects listed. An
overlay link loads the assets its session can play, while it is active, and no others."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from models.core.quotas import OrgUsage, Tier, quota_day
from tests.api.conftest import Caller
from tests.api.live.conftest import LIVE, on_tier, overlay_link, start
from tests.api.live.test_library import KIT, png
from web import create_app
from workers.core.setup import Platform


@pytest.fixture()
def stored_dir(tmp_path: Path) -> Path:
    return tmp_path / "storage"


@pytest.fixture()
def app(tx_platform: Platform, stored_dir: Path) -> Flask:
    settings = tx_platform.settings.replace(storage_url=str(stored_dir), live_max_effect_uploads=2)
    return create_app(platform=dataclasses.replace(tx_platform, settings=settings))


def stored(stored_dir: Path) -> list[str]:
    """The names of the files in storage."""
    return sorted(p.name for p in stored_dir.rglob("*") if p.is_file())


def uploads(client: FlaskClient, who: Caller) -> list[dict[str, Any]]:
    items = client.get(f"{LIVE}/effects", headers=who.headers).json["items"]
    return [e for e in items if not e["built_in"]]


def upload(client: FlaskClient, who: Caller, filename: str = "heart.png") -> Any:
    return client.post(
        f"{LIVE}/effects",
        data={"file": (io.BytesIO(png()), filename), "name": "Heart", "category": "reaction"},
        content_type="multipart/form-data",
        headers=who.headers,
    )


def test_a_file_name_with_control_characters_is_a_422_and_nothing_is_stored(
    client: FlaskClient, alice: Caller, session: Session, stored_dir: Path
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    for name in ("heart\x00.png", "heart\x1b[31m.png", "heart\x7f.png"):
        refused = upload(client, alice, name)
        assert refused.status_code == 422, (name, refused.json)
        assert refused.json["code"] == "validation_failed"
        assert "file" in refused.json["details"]["fields"]
    assert uploads(client, alice) == []
    assert stored(stored_dir) == []
    kept = upload(client, alice, "héart ♥.png")
    assert kept.status_code == 202, kept.json
    assert stored(stored_dir) == [uploads(client, alice)[0]["id"]]


def test_an_upload_past_the_days_job_quota_is_a_429_and_keeps_no_file(
    client: FlaskClient, alice: Caller, session: Session, stored_dir: Path
) -> None:
    org_id = on_tier(session, alice, Tier.CREATOR)
    session.merge(OrgUsage(org_id=org_id, day=quota_day(), jobs=10**6))
    session.commit()
    refused = upload(client, alice)
    assert refused.status_code == 429
    assert refused.json["code"] == "quota_exceeded"
    assert "Retry-After" in refused.headers
    assert uploads(client, alice) == []
    assert stored(stored_dir) == []


def test_an_organisation_keeps_at_most_its_uploads_and_a_refusal_keeps_no_file(
    client: FlaskClient, alice: Caller, session: Session, stored_dir: Path
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    assert [upload(client, alice).status_code for _ in range(2)] == [202, 202]
    refused = upload(client, alice)
    assert refused.status_code == 409
    assert refused.json["code"] == "effect_uploads_full"
    assert refused.json["details"] == {"max_effect_uploads": 2}
    kept = uploads(client, alice)
    assert len(kept) == 2
    assert stored(stored_dir) == sorted(e["id"] for e in kept)

    client.delete(f"{LIVE}/effects/{kept[0]['id']}", headers=alice.headers)
    assert upload(client, alice).status_code == 202
    assert stored(stored_dir) == sorted(e["id"] for e in uploads(client, alice))


def passed(session: Session, effect_id: str) -> None:
    """The check's outcome for a PNG (the worker's tests run the check itself)."""
    session.execute(
        text(
            "UPDATE live_effects SET status = 'passed', "
            'details = \'{"kind": "image", "format": "PNG"}\' WHERE id = :id'
        ),
        {"id": effect_id},
    )
    session.commit()


def test_a_link_loads_the_assets_its_session_can_play_and_nothing_once_it_has_ended(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.PROFESSIONAL)
    for category in ("reaction", "celebration"):
        answer = client.post(
            f"{LIVE}/effects",
            data={"file": (io.BytesIO(png()), "a.png"), "name": category, "category": category},
            content_type="multipart/form-data",
            headers=alice.headers,
        )
        assert answer.status_code == 202, answer.json
    ids = {e["name"]: e["id"] for e in uploads(client, alice)}
    for effect_id in ids.values():
        passed(session, effect_id)
    kit = client.post(f"{LIVE}/brand-kits", json=KIT, headers=alice.headers).json  # no reaction
    branded = start(client, alice, "twitch", brand_kit_id=kit["id"])
    plain = start(client, alice, "youtube")

    def asset(live: dict[str, Any], name: str) -> Any:
        token = overlay_link(client, alice, live["id"])["token"]
        path = f"{LIVE}/overlay/{live['id']}/effects/{ids[name]}/asset?token={token}"
        return client.get(path)

    loaded = asset(branded, "celebration")
    assert loaded.status_code == 200
    assert loaded.data == png()
    outside_the_kit = asset(branded, "reaction")
    assert outside_the_kit.status_code == 404
    assert outside_the_kit.json["code"] == "not_found"
    assert asset(plain, "reaction").status_code == 200

    token = overlay_link(client, alice, plain["id"])["token"]
    client.post(f"{LIVE}/sessions/{plain['id']}/end", headers=alice.headers)
    after_the_end = client.get(
        f"{LIVE}/overlay/{plain['id']}/effects/{ids['reaction']}/asset?token={token}"
    )
    assert after_the_end.status_code == 404
