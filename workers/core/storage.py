"""Where uploaded files live: one small interface, a local directory by default.

Files go in streamed, in chunks, never whole in memory: `put` hashes (SHA-256) and counts as
it copies, refuses a file past `max_bytes` without leaving any of it behind, and makes the
object visible only once it is complete (written under a temporary name, then renamed), so a
reader never sees half a file.

    store = storage(settings)
    stored = store.put("revenue/42/report.tsv", request.stream, max_bytes=cap)
    with store.open(stored.key) as f:
        for line in f: ...

Keys are paths of our own making (`<domain>/<org>/<id>…`), never a user's file name: `put`
refuses keys that are absolute or climb out (`..`). STORAGE_URL chooses the backend: a
directory (`var/storage`, the default, relative to the working directory; or
`file:///srv/backline/files`), or an S3-compatible store, `s3://bucket` or
`s3://bucket/prefix` (STORAGE_S3_* name its endpoint and keys), for deployments whose API
and workers run on several machines.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol
from urllib.parse import unquote, urlsplit

from config import Settings
from models.core.errors import InvalidInput, NotFound, TooLarge
from workers.clients.s3 import s3_client

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str  # hex


class Storage(Protocol):
    def put(self, key: str, source: BinaryIO, *, max_bytes: int | None = None) -> StoredObject:
        """Copy `source` to `key` in chunks, replacing what was there; TooLarge past the cap,
        with nothing left behind."""
        ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """The object for reading, streamed; NotFound when there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; nothing happens when there is none."""
        ...

    def exists(self, key: str) -> bool: ...


def check_key(key: str) -> PurePosixPath:
    """A relative path without `..`, empty parts or backslashes."""
    path = PurePosixPath(key)
    if (
        not key
        or path.is_absolute()
        or "\\" in key
        or "\x00" in key
        or any(part in ("", ".", "..") for part in key.split("/"))
    ):
        raise InvalidInput(f"not a storage key: {key!r}")
    return path


def copy_hashed(source: BinaryIO, target: BinaryIO, max_bytes: int | None) -> tuple[int, str]:
    """Copy in chunks; the size and the SHA-256. TooLarge as soon as the cap is passed."""
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_BYTES):
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise TooLarge(max_bytes)
        digest.update(chunk)
        target.write(chunk)
    return size, digest.hexdigest()


class LocalStorage:
    """Files under one directory, created on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).parts)

    def put(self, key: str, source: BinaryIO, *, max_bytes: int | None = None) -> StoredObject:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as target:
                size, sha256 = copy_hashed(source, target, max_bytes)
                target.flush()
                os.fsync(target.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return StoredObject(key, size, sha256)

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        try:
            f = self._path(key).open("rb")
        except FileNotFoundError:
            raise NotFound(f"no stored file {key!r}") from None
        with f:
            yield f

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()


class _Capped:
    """A source read in chunks, hashed and counted; TooLarge as soon as the cap is passed."""

    def __init__(self, source: BinaryIO, max_bytes: int | None) -> None:
        self.source, self.max_bytes = source, max_bytes
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int) -> bytes:
        chunk = self.source.read(n)
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise TooLarge(self.max_bytes)
        self.digest.update(chunk)
        return chunk

    def read_part(self, n: int) -> bytes:
        """Exactly `n` bytes unless the source ends first."""
        parts, got = [], 0
        while got < n and (chunk := self.read(min(CHUNK_BYTES, n - got))):
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)


class S3Storage:
    """Objects in one bucket (under a prefix) of an S3-compatible store.

    `put` sends a file of up to PART_BYTES in one request and a larger one as a multipart
    upload, a part at a time (memory holds one part), aborted on any failure: an object
    exists only once complete, as on disk.
    """

    PART_BYTES = 8 * 1024 * 1024  # S3's least part is 5 MiB

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")

    def _key(self, key: str) -> str:
        checked = str(check_key(key))
        return f"{self.prefix}/{checked}" if self.prefix else checked

    def put(self, key: str, source: BinaryIO, *, max_bytes: int | None = None) -> StoredObject:
        name = self._key(key)
        reader = _Capped(source, max_bytes)
        first = reader.read_part(self.PART_BYTES)
        following = reader.read_part(self.PART_BYTES) if len(first) == self.PART_BYTES else b""
        if not following:
            self.client.put_object(Bucket=self.bucket, Key=name, Body=first)
        else:
            self._multipart(name, reader, first, following)
        return StoredObject(key, reader.size, reader.digest.hexdigest())

    def _multipart(self, name: str, reader: _Capped, first: bytes, following: bytes) -> None:
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=name)["UploadId"]
        try:
            parts = []
            number, part = 1, first
            while part:
                sent = self.client.upload_part(
                    Bucket=self.bucket, Key=name, UploadId=upload, PartNumber=number, Body=part
                )
                parts.append({"PartNumber": number, "ETag": sent["ETag"]})
                number += 1
                part, following = (
                    following,
                    (reader.read_part(self.PART_BYTES) if following else b""),
                )
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=name, UploadId=upload, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload)
            raise

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            raise NotFound(f"no stored file {key!r}") from None
        body = answer["Body"]
        try:
            yield body
        finally:
            body.close()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True


def storage(settings: Settings) -> Storage:
    """The store STORAGE_URL names."""
    if "://" not in settings.storage_url:
        return LocalStorage(Path(settings.storage_url))
    url = urlsplit(settings.storage_url)
    if url.scheme == "file" and url.netloc in ("", "localhost"):
        return LocalStorage(Path(unquote(url.path)))
    if url.scheme == "s3" and url.netloc:
        return S3Storage(s3_client(settings), url.netloc, unquote(url.path))
    raise ValueError(f"STORAGE_URL: no storage for {settings.storage_url!r}")
