"""fans.import and fans.export run by a real worker: every row or none, duplicates skipped
and counted, row errors listed, another organisation's import not found; the export's CSV."""

from __future__ import annotations

import csv
import dataclasses
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from config import Settings
from models.accounts import User
from models.core.jobs import JobStatus
from models.fans import Fan
from models.fans.fans import create_fan
from models.fans.imports import FanImport, header_and_preview, record_upload, set_mapping
from tests.conftest import access_token, make_user, org_of
from tests.worker.conftest import RunningWorker, submit_job, wait_for
from web import create_app
from workers.core.setup import Platform
from workers.core.storage import storage


@pytest.fixture(params=["local", "s3"])
def files(
    request: pytest.FixtureRequest, committed_platform: Platform, settings: Settings, tmp_path: Path
) -> Iterator[Platform]:
    """The committed platform and a running worker, both on one store: a directory of the
    test's own, or a bucket of a local S3-compatible server."""
    overrides = {"storage_url": str(tmp_path / "storage")}
    if request.param == "s3":
        overrides = request.getfixturevalue("s3_settings")
    worker = RunningWorker(settings.replace(**overrides)).start()
    yield dataclasses.replace(
        committed_platform, settings=committed_platform.settings.replace(**overrides)
    )
    worker.stop()


@pytest.fixture()
def artist(files: Platform) -> uuid.UUID:
    with files.sessions.begin() as session:
        return make_user(session).id


def uploaded(
    platform: Platform, owner: uuid.UUID, content: str, mapping: dict[str, str]
) -> uuid.UUID:
    """An import of `content`, uploaded and mapped, as the API leaves it."""
    import_id = uuid.uuid4()
    with platform.sessions.begin() as session:
        org_id = org_of(session, owner)
        key = f"fans/{org_id}/imports/{import_id}.csv"
        stored = storage(platform.settings).put(key, io.BytesIO(content.encode()))
        with storage(platform.settings).open(key) as f:
            columns, preview = header_and_preview(f)
        record_upload(
            session=session, org_id=org_id, user_id=owner, import_id=import_id, storage_key=key,
            filename="fans.csv", size_bytes=stored.size, columns=columns, preview=preview,
        )  # fmt: skip
        set_mapping(session=session, org_id=org_id, import_id=import_id, mapping=mapping)
    return import_id


def fan_emails(platform: Platform, owner: uuid.UUID) -> list[str]:
    with platform.sessions() as session:
        org_id = org_of(session, owner)
        return sorted(session.scalars(select(Fan.email).where(Fan.org_id == org_id)))


def import_record(platform: Platform, import_id: uuid.UUID) -> FanImport:
    with platform.sessions() as session:
        return session.get_one(FanImport, import_id)


MAPPING = {"name": "Name", "email": "Email", "country": "Country", "tags": "Tags"}


def test_an_import_adds_each_address_once_and_counts_what_it_skipped(
    files: Platform, artist: uuid.UUID
) -> None:
    with files.sessions.begin() as session:
        create_fan(
            session=session,
            org_id=org_of(session, artist),
            values={"name": "Known", "email": "known@example.com"},
        )
    content = (
        "Name,Email,Country,Tags\n"
        "Ada,ada@example.com,gb,vip;early\n"
        "Ada again,ADA@example.com,GB,\n"
        "Known,known@example.com,US,\n"
        "\n"
        "Grace,grace@example.com,,\n"
    )
    import_id = uploaded(files, artist, content, MAPPING)

    job = wait_for(files, submit_job(files, artist, "fans.import", {"import_id": str(import_id)}))

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result == {"imported": 2, "already_on_list": 1, "repeated_in_file": 1}
    assert fan_emails(files, artist) == [
        "ada@example.com",
        "grace@example.com",
        "known@example.com",
    ]
    with files.sessions() as session:
        ada = session.scalars(select(Fan).where(Fan.email == "ada@example.com")).one()
        assert (ada.name, ada.country, ada.tags, ada.source) == (
            "Ada",
            "GB",
            ["early", "vip"],
            "import",
        )
    assert import_record(files, import_id).status == "imported"


def test_one_bad_row_imports_nothing_and_every_bad_row_is_named(
    files: Platform, artist: uuid.UUID
) -> None:
    content = (
        "Name,Email,Country,Tags\n"
        "Ada,ada@example.com,GB,\n"
        "Nobody,not-an-address,GB,\n"
        "Grace,grace@example.com,Narnia,\n"
    )
    import_id = uploaded(files, artist, content, MAPPING)

    job = wait_for(files, submit_job(files, artist, "fans.import", {"import_id": str(import_id)}))

    assert job.status == JobStatus.FAILED
    assert job.attempts == 1
    assert job.error is not None and "2 rows could not be read" in job.error["message"]
    assert fan_emails(files, artist) == []
    record = import_record(files, import_id)
    assert record.status == "failed"
    assert record.result is not None
    assert [e["row"] for e in record.result["row_errors"]] == [3, 4]
    assert set(record.result["row_errors"][0]["errors"]) == {"email"}
    assert set(record.result["row_errors"][1]["errors"]) == {"country"}


def test_an_import_of_another_organisation_is_not_found_and_loads_nothing(
    files: Platform, artist: uuid.UUID
) -> None:
    import_id = uploaded(
        files, artist, "Name,Email,Country,Tags\nAda,ada@example.com,GB,\n", MAPPING
    )
    with files.sessions.begin() as session:
        stranger = make_user(session).id

    job = wait_for(files, submit_job(files, stranger, "fans.import", {"import_id": str(import_id)}))

    assert job.status == JobStatus.FAILED
    assert fan_emails(files, artist) == [] and fan_emails(files, stranger) == []
    assert import_record(files, import_id).status == "queued"


def test_a_large_import_loads_every_row(files: Platform, artist: uuid.UUID) -> None:
    rows = "".join(f"Fan {n},fan{n}@example.com,US,\n" for n in range(5000))
    import_id = uploaded(files, artist, "Name,Email,Country,Tags\n" + rows, MAPPING)

    job = wait_for(files, submit_job(files, artist, "fans.import", {"import_id": str(import_id)}))

    assert job.status == JobStatus.SUCCEEDED, job.error
    with files.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Fan)) == 5000


def test_an_export_writes_every_fan_of_the_organisation(files: Platform, artist: uuid.UUID) -> None:
    with files.sessions.begin() as session:
        org_id = org_of(session, artist)
        for n in range(3):
            create_fan(
                session=session,
                org_id=org_id,
                values={"name": f"Fan {n}", "email": f"f{n}@example.com", "tags": ["a", "b"]},
            )
        other = make_user(session).id
        create_fan(
            session=session,
            org_id=org_of(session, other),
            values={"name": "X", "email": "x@example.com"},
        )

    job = wait_for(files, submit_job(files, artist, "fans.export"))

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result is not None and job.result["fans"] == 3
    key = f"fans/{org_id}/exports/{job.id}.csv"
    with storage(files.settings).open(key) as f:
        rows = list(csv.DictReader(io.TextIOWrapper(f, encoding="utf-8")))
    assert sorted(r["email"] for r in rows) == [
        "f0@example.com",
        "f1@example.com",
        "f2@example.com",
    ]
    assert rows[0]["tags"] == "a;b"

    client = create_app(platform=files).test_client()
    with files.sessions() as session:
        mine = access_token(files, session, session.get_one(User, artist))
        theirs = access_token(files, session, session.get_one(User, other))
    download = client.get(
        f"/api/v1/fans/exports/{job.id}", headers={"Authorization": f"Bearer {mine}"}
    )
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    assert download.data.decode().count("@example.com") == 3
    stranger = client.get(
        f"/api/v1/fans/exports/{job.id}", headers={"Authorization": f"Bearer {theirs}"}
    )
    assert stranger.status_code == 404
