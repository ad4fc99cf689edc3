"""Upload refusals answered before any job: past the cap, not a report's suffix, no file."""

from __future__ import annotations

import dataclasses
import io

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from models.revenue import Upload
from tests.api.conftest import Caller
from web import create_app
from workers.core.setup import Platform


def small_cap_client(tx_platform: Platform) -> FlaskClient:
    settings = tx_platform.settings.replace(revenue_max_upload_bytes=2048)
    return create_app(platform=dataclasses.replace(tx_platform, settings=settings)).test_client()


def post(client: FlaskClient, who: Caller, data: bytes, name: str) -> TestResponse:
    return client.post(
        "/api/v1/revenue/uploads", data={"file": (io.BytesIO(data), name)}, headers=who.headers
    )


def test_a_report_past_the_cap_is_a_413_and_leaves_no_upload(
    tx_platform: Platform, session: Session, alice: Caller
) -> None:
    response = post(small_cap_client(tx_platform), alice, b"a\tb\r\n" * 1000, "big.tsv")
    assert response.status_code == 413
    assert response.json["code"] == "payload_too_large"
    assert session.scalar(select(func.count()).select_from(Upload)) == 0


def test_only_report_files_are_taken(client: FlaskClient, session: Session, alice: Caller) -> None:
    response = post(client, alice, b"MZ\x90\x00", "setup.exe")
    assert response.status_code == 422
    assert response.json["details"]["fields"]["file"]
    missing = client.post("/api/v1/revenue/uploads", data={}, headers=alice.headers)
    assert missing.status_code == 422
    assert session.scalar(select(func.count()).select_from(Upload)) == 0


def test_uploads_need_a_signed_in_caller(client: FlaskClient) -> None:
    response = client.post("/api/v1/revenue/uploads", data={"file": (io.BytesIO(b"x"), "a.csv")})
    assert response.status_code == 401
