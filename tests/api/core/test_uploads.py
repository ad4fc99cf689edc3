"""A view marked for uploads takes a multipart file past MAX_REQUEST_BYTES, under its own cap;
every other view still wants JSON under the global cap."""

from __future__ import annotations

import hashlib
import io

import pytest
from flask import Flask, jsonify
from flask.testing import FlaskClient

from web import create_app
from web.core.uploads import accepts_upload, uploaded_file
from workers.core.setup import Platform

CAP = 3 * 1024 * 1024


@pytest.fixture()
def upload_client(tx_platform: Platform) -> FlaskClient:
    app: Flask = create_app(platform=tx_platform)

    @app.post("/test/upload")
    @accepts_upload(lambda settings: CAP)
    def take_upload():  # type: ignore[no-untyped-def]
        upload = uploaded_file()
        data = upload.stream.read()
        return jsonify(
            filename=upload.filename, size=len(data), sha256=hashlib.sha256(data).hexdigest()
        )

    @app.post("/test/json")
    def take_json():  # type: ignore[no-untyped-def]
        return jsonify(ok=True)

    return app.test_client()


def _multipart(data: bytes, name: str = "report.tsv") -> dict[str, object]:
    return {"file": (io.BytesIO(data), name)}


def test_a_file_past_the_global_cap_is_taken_by_an_upload_view(upload_client: FlaskClient) -> None:
    data = b"a\tb\n" * (512 * 1024)  # 2 MiB: past the 1 MiB JSON cap, under the view's
    response = upload_client.post("/test/upload", data=_multipart(data))
    assert response.status_code == 200, response.json
    assert response.json == {
        "filename": "report.tsv",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def test_past_the_views_own_cap_is_a_413_in_the_one_shape(upload_client: FlaskClient) -> None:
    response = upload_client.post("/test/upload", data=_multipart(b"x" * (CAP + 1)))
    assert response.status_code == 413
    assert response.json["code"] == "payload_too_large"


def test_no_file_part_is_a_422_naming_it(upload_client: FlaskClient) -> None:
    response = upload_client.post("/test/upload", data={"other": "x"})
    assert response.status_code == 422
    assert response.json["details"]["fields"] == {"file": ["missing"]}
    response = upload_client.post("/test/upload", json={"file": "x"})
    assert response.status_code == 422


def test_other_views_still_refuse_a_form_body(upload_client: FlaskClient) -> None:
    response = upload_client.post("/test/json", data=_multipart(b"x"))
    assert response.status_code == 415
