"""Releases over HTTP: drafts with type rules, ISRC and UPC checks, edits only while a draft,
submission gated on the files, the admins' review with its mails and history."""

from __future__ import annotations

import io
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.api.conftest import Caller, mails_to

TRACK = {"title": "Song", "artists": ["The Band"], "isrc": "US-RC1-76-07839"}


def draft(client: FlaskClient, who: Caller, **fields: Any) -> Any:
    body = {"type": "single", "title": "First", "artist_name": "The Band", "tracks": [TRACK]}
    return client.post("/api/v1/releases", json={**body, **fields}, headers=who.headers)


def test_a_draft_keeps_its_tracks_credits_and_a_history(client: FlaskClient, alice: Caller) -> None:
    track = {**TRACK, "featured_artists": ["Guest"], "credits": {"producers": ["P"]}}
    answer = draft(client, alice, upc="036000291452", tracks=[track])

    assert answer.status_code == 201, answer.json
    release = answer.json
    assert release["status"] == "draft"
    assert release["upc"] == "036000291452"
    [stored] = release["tracks"]
    assert (stored["position"], stored["isrc"]) == (1, "USRC17607839")
    assert stored["credits"] == {"producers": ["P"], "performers": []}
    assert [e["to_status"] for e in release["history"]] == ["draft"]
    assert release["files"] == []


def test_bad_codes_and_too_many_tracks_are_422s_naming_the_field(
    client: FlaskClient, alice: Caller
) -> None:
    bad_upc = draft(client, alice, upc="036000291453")
    bad_isrc = draft(client, alice, tracks=[{**TRACK, "isrc": "12345"}])
    two_for_a_single = draft(client, alice, tracks=[TRACK, TRACK])

    assert bad_upc.status_code == 422 and "upc" in bad_upc.json["details"]["fields"]
    assert bad_isrc.status_code == 422 and "tracks.0.isrc" in bad_isrc.json["details"]["fields"]
    assert two_for_a_single.status_code == 422
    assert client.get("/api/v1/releases", headers=alice.headers).json["items"] == []


def test_a_release_is_not_submitted_without_its_files_or_enough_tracks(
    client: FlaskClient, alice: Caller
) -> None:
    release = draft(client, alice, type="ep", tracks=[TRACK]).json

    answer = client.post(f"/api/v1/releases/{release['id']}/submit", headers=alice.headers)

    assert answer.status_code == 422
    problems = answer.json["details"]["fields"]
    assert "an EP has 2 to 6 tracks" in problems["tracks"][0]
    assert problems["artwork"] == ["missing: upload it"]
    assert problems["tracks.1.audio"] == ["missing: upload it"]


def test_an_upload_answers_the_check_job_and_the_file_is_pending(
    client: FlaskClient, alice: Caller
) -> None:
    release = draft(client, alice).json

    answer = client.post(
        f"/api/v1/releases/{release['id']}/artwork",
        data={"file": (io.BytesIO(b"not really a png"), "cover.png")},
        content_type="multipart/form-data",
        headers=alice.headers,
    )
    no_track = client.post(
        f"/api/v1/releases/{release['id']}/tracks/2/audio",
        data={"file": (io.BytesIO(b"RIFF"), "two.wav")},
        content_type="multipart/form-data",
        headers=alice.headers,
    )

    assert answer.status_code == 202
    assert answer.json["kind"] == "fans.check_file"
    [file] = client.get(f"/api/v1/releases/{release['id']}", headers=alice.headers).json["files"]
    assert (file["kind"], file["status"], file["size_bytes"]) == ("artwork", "pending", 16)
    assert no_track.status_code == 404
    submitted = client.post(f"/api/v1/releases/{release['id']}/submit", headers=alice.headers)
    assert submitted.json["details"]["fields"]["artwork"] == ["still being checked"]


def test_another_artists_release_and_files_are_not_found(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    release = draft(client, alice).json
    client.post(
        f"/api/v1/releases/{release['id']}/artwork",
        data={"file": (io.BytesIO(b"x"), "cover.png")},
        content_type="multipart/form-data",
        headers=alice.headers,
    )
    [file] = client.get(f"/api/v1/releases/{release['id']}", headers=alice.headers).json["files"]
    path = f"/api/v1/releases/{release['id']}"

    assert client.get(path, headers=bob.headers).status_code == 404
    assert client.patch(path, json={"title": "Mine"}, headers=bob.headers).status_code == 404
    assert client.post(f"{path}/submit", headers=bob.headers).status_code == 404
    upload = client.post(
        f"{path}/artwork",
        data={"file": (io.BytesIO(b"x"), "c.png")},
        content_type="multipart/form-data",
        headers=bob.headers,
    )
    assert upload.status_code == 404
    assert client.get(f"{path}/files/{file['id']}/url", headers=bob.headers).status_code == 404


def test_a_signed_url_serves_the_file_until_it_is_tampered_with(
    client: FlaskClient, alice: Caller
) -> None:
    release = draft(client, alice).json
    client.post(
        f"/api/v1/releases/{release['id']}/artwork",
        data={"file": (io.BytesIO(b"cover bytes"), "cover.png")},
        content_type="multipart/form-data",
        headers=alice.headers,
    )
    [file] = client.get(f"/api/v1/releases/{release['id']}", headers=alice.headers).json["files"]

    link = client.get(
        f"/api/v1/releases/{release['id']}/files/{file['id']}/url", headers=alice.headers
    ).json
    path = link["url"].split("localhost", 1)[1]

    assert client.get(path).data == b"cover bytes"
    assert client.get(path[:-3] + "abc").status_code == 404


def test_only_admins_review_and_the_artist_is_mailed_each_decision(
    client: FlaskClient, session: Session, alice: Caller, admin: Caller
) -> None:
    release = draft(client, alice).json
    _under_review(session, release["id"])
    path = f"/api/v1/admin/releases/{release['id']}"

    assert client.get("/api/v1/admin/releases", headers=alice.headers).status_code == 403
    queue = client.get("/api/v1/admin/releases", headers=admin.headers).json["items"]
    assert [r["id"] for r in queue] == [release["id"]]
    assert (
        client.post(f"{path}/reject", json={"reason": ""}, headers=admin.headers).status_code == 422
    )
    rejected = client.post(
        f"{path}/reject", json={"reason": "Cover has a URL on it"}, headers=admin.headers
    )
    assert rejected.json["status"] == "rejected"
    assert rejected.json["rejection_reason"] == "Cover has a URL on it"
    [mail] = mails_to(session, alice.user.email)
    assert "Cover has a URL on it" in mail.params["text"]

    reopened = client.post(f"/api/v1/releases/{release['id']}/reopen", headers=alice.headers)
    assert reopened.json["status"] == "draft"
    edited = client.patch(
        f"/api/v1/releases/{release['id']}", json={"title": "Fixed"}, headers=alice.headers
    )
    assert edited.json["title"] == "Fixed"
    _under_review(session, release["id"])
    approved = client.post(f"{path}/approve", headers=admin.headers)
    assert approved.json["status"] == "approved"
    assert [e["to_status"] for e in approved.json["history"]] == [
        "draft", "under_review", "rejected", "draft", "under_review", "approved",
    ]  # fmt: skip
    assert len(mails_to(session, alice.user.email)) == 2
    frozen = client.patch(
        f"/api/v1/releases/{release['id']}", json={"title": "Again"}, headers=alice.headers
    )
    assert frozen.status_code == 409


def _under_review(session: Session, release_id: str) -> None:
    """Submit as the artist would once the files passed (their checks have their own tests)."""
    import uuid

    from models.fans.releases import ReleaseStatus, any_release, submit_release

    release = any_release(session=session, release_id=uuid.UUID(release_id))
    submit_release(
        session=session,
        org_id=release.org_id,
        release_id=release.id,
        user_id=release.created_by,
        files_passed=lambda r: {},
    )
    session.commit()
    assert release.status == ReleaseStatus.UNDER_REVIEW


def test_erasing_an_account_keeps_its_releases_for_the_organisation_without_its_name(
    client: FlaskClient, session: Session, alice: Caller
) -> None:
    import uuid

    from models.core.erasure import Person, erase_person, export_person
    from models.fans.releases import any_release

    release_id = uuid.UUID(draft(client, alice).json["id"])
    person = Person(alice.user.id, alice.user.email)
    exported = export_person(session=session, person=person)["fans"]
    assert [r["id"] for r in exported["releases_started"]] == [str(release_id)]

    erase_person(session=session, person=person)

    release = any_release(session=session, release_id=release_id)
    session.refresh(release)
    assert release.created_by is None
    assert [event.actor_id for event in release.history] == [None]
