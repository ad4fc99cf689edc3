"""The S3-compatible store, against a real S3 endpoint (moto's server, through boto3):
streamed in (multipart past one part), hashed, capped with nothing left behind, read back,
deleted; the same keys refused as on disk."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest

from config import Settings
from models.core.errors import InvalidInput, NotFound, TooLarge
from workers.core.storage import S3Storage, storage


@pytest.fixture()
def store(settings: Settings, s3_settings: dict[str, Any]) -> S3Storage:
    found = storage(settings.replace(**s3_settings))
    assert isinstance(found, S3Storage)
    return found


def listed(store: S3Storage) -> list[str]:
    answer = store.client.list_objects_v2(Bucket=store.bucket)
    return sorted(o["Key"] for o in answer.get("Contents", []))


def test_a_small_file_goes_in_and_comes_back(store: S3Storage) -> None:
    stored = store.put("fans/1/a.csv", io.BytesIO(b"email\na@example.com\n"))

    assert stored.size == 20
    assert stored.sha256 == hashlib.sha256(b"email\na@example.com\n").hexdigest()
    with store.open("fans/1/a.csv") as f:
        assert f.read() == b"email\na@example.com\n"
    assert store.exists("fans/1/a.csv")
    assert "files/fans/1/a.csv" in listed(store)  # under the URL's prefix


def test_a_large_file_goes_in_as_parts_and_comes_back_whole(store: S3Storage) -> None:
    body = bytes(range(256)) * (4096 * 20)  # 20 MiB: three parts

    stored = store.put("releases/1/audio", io.BytesIO(body))

    assert stored.size == len(body)
    with store.open("releases/1/audio") as f:
        assert hashlib.sha256(f.read()).hexdigest() == hashlib.sha256(body).hexdigest()


def test_past_the_cap_nothing_is_left_behind(store: S3Storage) -> None:
    with pytest.raises(TooLarge):
        store.put("big/small-cap", io.BytesIO(b"x" * 5000), max_bytes=4000)
    with pytest.raises(TooLarge):
        store.put("big/multipart", io.BytesIO(b"x" * (20 * 1024 * 1024)), max_bytes=17_000_000)

    assert not store.exists("big/small-cap")
    assert not store.exists("big/multipart")
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket)
    assert uploads.get("Uploads", []) == []


def test_missing_and_deleted_objects(store: S3Storage) -> None:
    store.put("x/gone", io.BytesIO(b"1"))
    store.delete("x/gone")
    store.delete("x/never-was")

    assert not store.exists("x/gone")
    with pytest.raises(NotFound), store.open("x/gone"):
        pass


def test_keys_that_climb_out_are_refused(store: S3Storage) -> None:
    for key in ("../etc/passwd", "/abs", "a//b", "a/./b"):
        with pytest.raises(InvalidInput):
            store.put(key, io.BytesIO(b"1"))
