"""The effects library and brand kits over HTTP: built-ins and uploads by category, uploads
and brand kits gated by tier (403 tier_required naming the tier), hex colours checked, another
organisation's ids a 404."""

from __future__ import annotations

import io
from typing import Any

from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy.orm import Session

from models.core.quotas import Tier
from tests.api.conftest import Caller
from tests.api.live.conftest import LIVE, on_tier, start

KIT: dict[str, Any] = {
    "name": "Neon",
    "palette": ["#00FFAA", "#111111"],
    "typography": {"heading_font": "Bungee", "body_font": "Inter", "base_size_px": 28},
    "motion_intensity": 5,
    "allowed_categories": ["celebration", "alert"],
}


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (64, 64), (255, 0, 0, 128)).save(out, "PNG")
    return out.getvalue()


def upload(client: FlaskClient, who: Caller, **form: Any) -> Any:
    return client.post(
        f"{LIVE}/effects",
        data={"file": (io.BytesIO(png()), "heart.png"), **form},
        content_type="multipart/form-data",
        headers=who.headers,
    )


def test_the_library_lists_built_ins_by_category(client: FlaskClient, alice: Caller) -> None:
    everything = client.get(f"{LIVE}/effects", headers=alice.headers).json["items"]
    assert {e["category"] for e in everything} >= {"alert", "celebration", "reaction"}
    assert all(e["built_in"] and e["status"] == "passed" for e in everything)
    alerts = client.get(f"{LIVE}/effects?category=alert", headers=alice.headers).json["items"]
    assert {e["animation"] for e in alerts} == {"follower-alert", "subscriber-alert"}
    assert client.get(f"{LIVE}/effects?category=nope", headers=alice.headers).status_code == 422


def test_an_upload_is_checked_by_a_job_before_it_plays(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    answer = upload(client, alice, name="Big heart", category="reaction", duration_ms="2500")
    assert answer.status_code == 202, answer.json
    assert answer.json["kind"] == "live.check_effect"
    reactions = client.get(f"{LIVE}/effects?category=reaction", headers=alice.headers).json
    mine = next(e for e in reactions["items"] if not e["built_in"])
    assert (mine["name"], mine["status"], mine["duration_ms"]) == ("Big heart", "pending", 2500)

    live = start(client, alice)
    early = client.post(
        f"{LIVE}/sessions/{live['id']}/effects",
        json={"effect_id": mine["id"]},
        headers=alice.headers,
    )
    assert early.status_code == 409
    assert "being checked" in early.json["message"]
    # Another organisation sees neither the effect nor can delete it.
    assert client.get(f"{LIVE}/effects/{mine['id']}", headers=bob.headers).status_code == 404
    assert client.delete(f"{LIVE}/effects/{mine['id']}", headers=bob.headers).status_code == 404
    assert client.delete(f"{LIVE}/effects/{mine['id']}", headers=alice.headers).status_code == 204
    assert client.get(f"{LIVE}/effects/{mine['id']}", headers=alice.headers).status_code == 404


def test_uploads_need_the_creator_tier(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.FREE)
    refused = upload(client, alice, name="x", category="alert")
    assert refused.status_code == 403
    assert refused.json["code"] == "tier_required"
    assert refused.json["details"] == {
        "feature": "effect_uploads",
        "tier_required": "creator",
        "tier": "free",
    }


def test_an_upload_with_bad_form_fields_is_a_422(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    for form in (
        {"name": "x", "category": "dance"},
        {"name": "", "category": "alert"},
        {"name": "x", "category": "alert", "duration_ms": "99999999"},
    ):
        answer = upload(client, alice, **form)
        assert answer.status_code == 422, form


def test_brand_kits_need_the_professional_tier(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.CREATOR)
    refused = client.post(f"{LIVE}/brand-kits", json=KIT, headers=alice.headers)
    assert refused.status_code == 403
    assert refused.json["code"] == "tier_required"
    assert refused.json["details"]["tier_required"] == "professional"
    assert "professional" in refused.json["message"]


def test_a_brand_kit_is_made_read_changed_and_deleted(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session
) -> None:
    on_tier(session, alice, Tier.PROFESSIONAL)
    made = client.post(f"{LIVE}/brand-kits", json=KIT, headers=alice.headers)
    assert made.status_code == 201, made.json
    kit_id = made.json["id"]
    assert made.json["typography"]["heading_font"] == "Bungee"

    changed = client.patch(
        f"{LIVE}/brand-kits/{kit_id}", json={"motion_intensity": 1}, headers=alice.headers
    )
    assert changed.status_code == 200
    assert changed.json["motion_intensity"] == 1
    assert changed.json["palette"] == KIT["palette"]
    listed = client.get(f"{LIVE}/brand-kits", headers=alice.headers).json
    assert [k["id"] for k in listed["items"]] == [kit_id]

    for method in ("get", "patch", "delete"):
        answer = getattr(client, method)(
            f"{LIVE}/brand-kits/{kit_id}",
            headers=bob.headers,
            json={} if method == "patch" else None,
        )
        assert answer.status_code == 404, method
    on_tier(session, bob, Tier.PROFESSIONAL)
    foreign = client.post(
        f"{LIVE}/sessions",
        json={"platform": "twitch", "title": "x", "brand_kit_id": kit_id},
        headers=bob.headers,
    )
    assert foreign.status_code == 404

    assert client.delete(f"{LIVE}/brand-kits/{kit_id}", headers=alice.headers).status_code == 204
    assert client.get(f"{LIVE}/brand-kits/{kit_id}", headers=alice.headers).status_code == 404


def test_a_brand_kit_is_checked(client: FlaskClient, alice: Caller, session: Session) -> None:
    on_tier(session, alice, Tier.PROFESSIONAL)
    for change in (
        {"palette": ["red"]},
        {"palette": ["#12345"]},
        {"palette": []},
        {"motion_intensity": 0},
        {"motion_intensity": 6},
        {"allowed_categories": ["alert", "alert"]},
        {"allowed_categories": ["dance"]},
        {"typography": {"heading_font": "Inter"}},
    ):
        answer = client.post(f"{LIVE}/brand-kits", json={**KIT, **change}, headers=alice.headers)
        assert answer.status_code == 422, change
        assert answer.json["code"] == "validation_failed"
