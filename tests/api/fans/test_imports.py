"""Fan imports over HTTP: upload, preview and suggested mapping, start (202 with the job)."""

from __future__ import annotations

import io
from typing import Any

from flask.testing import FlaskClient

from tests.api.conftest import Caller

CSV = (
    "Full name,E-mail,Country,Tags\n"
    "Ada Lovelace,ada@example.com,GB,vip;early\n"
    "Grace Hopper,grace@example.com,US,\n"
)


def upload(client: FlaskClient, who: Caller, content: bytes, name: str = "fans.csv") -> Any:
    return client.post(
        "/api/v1/fans/imports",
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
        headers=who.headers,
    )


def test_an_upload_answers_its_columns_first_rows_and_a_suggested_mapping(
    client: FlaskClient, alice: Caller
) -> None:
    answer = upload(client, alice, CSV.encode())

    assert answer.status_code == 201, answer.json
    assert answer.json["columns"] == ["Full name", "E-mail", "Country", "Tags"]
    assert answer.json["preview"][0] == {
        "Full name": "Ada Lovelace",
        "E-mail": "ada@example.com",
        "Country": "GB",
        "Tags": "vip;early",
    }
    assert answer.json["mapping"] == {"email": "E-mail", "country": "Country", "tags": "Tags"}
    assert answer.json["status"] == "uploaded"


def test_starting_answers_202_with_the_job_and_only_once(
    client: FlaskClient, alice: Caller
) -> None:
    import_id = upload(client, alice, CSV.encode()).json["id"]
    mapping = {"name": "Full name", "email": "E-mail"}

    started = client.post(
        f"/api/v1/fans/imports/{import_id}/start", json={"mapping": mapping}, headers=alice.headers
    )
    again = client.post(
        f"/api/v1/fans/imports/{import_id}/start", json={"mapping": mapping}, headers=alice.headers
    )

    assert started.status_code == 202
    assert started.json["kind"] == "fans.import"
    assert started.json["status"] == "queued"
    record = client.get(f"/api/v1/fans/imports/{import_id}", headers=alice.headers).json
    assert record["status"] == "queued"
    assert record["job_id"] == started.json["id"]
    assert again.status_code == 409


def test_a_mapping_that_does_not_fit_the_file_is_a_422_and_the_import_stays_open(
    client: FlaskClient, alice: Caller
) -> None:
    import_id = upload(client, alice, CSV.encode()).json["id"]

    answer = client.post(
        f"/api/v1/fans/imports/{import_id}/start",
        json={"mapping": {"name": "Nom", "shoe_size": "Tags"}},
        headers=alice.headers,
    )

    assert answer.status_code == 422
    assert set(answer.json["details"]["fields"]) == {"name", "shoe_size", "email"}
    record = client.get(f"/api/v1/fans/imports/{import_id}", headers=alice.headers).json
    assert record["status"] == "uploaded"


def test_another_artists_import_is_not_found(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    import_id = upload(client, alice, CSV.encode()).json["id"]

    assert client.get(f"/api/v1/fans/imports/{import_id}", headers=bob.headers).status_code == 404
    started = client.post(
        f"/api/v1/fans/imports/{import_id}/start",
        json={"mapping": {"email": "E-mail"}},
        headers=bob.headers,
    )
    assert started.status_code == 404


def test_files_that_are_not_csv_text_are_refused_with_a_reason(
    client: FlaskClient, alice: Caller
) -> None:
    latin1 = upload(client, alice, "name,email\nJosé,jose@example.com\n".encode("latin-1"))
    empty = upload(client, alice, b"")
    repeated = upload(client, alice, b"email,email\na@example.com,b@example.com\n")

    assert latin1.status_code == 422 and "UTF-8" in latin1.json["message"]
    assert empty.status_code == 422 and "empty" in empty.json["message"]
    assert repeated.status_code == 422


def test_a_file_past_the_cap_is_a_413(app: Any, client: FlaskClient, alice: Caller) -> None:
    cap = app.extensions["backline"].settings.fans_max_import_bytes
    answer = upload(client, alice, b"email\n" + b"a@example.com\n" * (cap // 14 + 1))

    assert answer.status_code == 413
