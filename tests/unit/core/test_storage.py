"""The local store: streamed in, hashed, capped, never half-written, keys that stay inside."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from config import load_settings
from models.core.errors import InvalidInput, NotFound, TooLarge
from workers.core.storage import LocalStorage, storage


class _Chunks(io.RawIOBase):
    """A stream that hands out a large body a chunk at a time, as a request body does."""

    def __init__(self, chunk: bytes, count: int) -> None:
        self.chunk, self.left = chunk, count

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.left == 0:
            return b""
        self.left -= 1
        return self.chunk


def test_a_file_goes_in_streamed_with_its_size_and_sha256(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    chunk = b"x" * 65536
    stored = store.put("revenue/1/a.tsv", _Chunks(chunk, 40))  # type: ignore[arg-type]
    assert stored.size == 40 * 65536
    assert stored.sha256 == hashlib.sha256(chunk * 40).hexdigest()
    with store.open("revenue/1/a.tsv") as f:
        assert hashlib.sha256(f.read()).hexdigest() == stored.sha256
    assert store.exists("revenue/1/a.tsv")
    store.delete("revenue/1/a.tsv")
    store.delete("revenue/1/a.tsv")  # twice: nothing to do
    assert not store.exists("revenue/1/a.tsv")
    with pytest.raises(NotFound):
        store.open("revenue/1/a.tsv").__enter__()


def test_past_the_cap_nothing_is_left_behind(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    with pytest.raises(TooLarge) as raised:
        store.put("big/file", _Chunks(b"y" * 1000, 5), max_bytes=4500)  # type: ignore[arg-type]
    assert raised.value.details == {"max_bytes": 4500}
    assert not store.exists("big/file")
    assert [p.name for p in (tmp_path / "big").iterdir()] == []  # no temporary file either


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../up", "a/../../b", "a//b", "a\\b", "a/./b"])
def test_keys_that_would_leave_the_root_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(InvalidInput):
        LocalStorage(tmp_path).put(key, io.BytesIO(b"x"))


def test_the_setting_names_a_directory_or_a_file_url(tmp_path: Path) -> None:
    by_path = storage(load_settings({"STORAGE_URL": str(tmp_path / "files")}))
    by_url = storage(load_settings({"STORAGE_URL": f"file://{tmp_path}/files"}))
    by_path.put("k", io.BytesIO(b"same"))
    with by_url.open("k") as f:
        assert f.read() == b"same"
    with pytest.raises(ValueError, match="STORAGE_URL"):
        storage(load_settings({"STORAGE_URL": "ftp://example.com/x"}))
