"""A real S3-compatible server for tests: moto's server mode on a free local port, spoken to
through boto3 over HTTP like any S3 endpoint."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto.server import ThreadedMotoServer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def s3_server() -> Iterator[dict[str, Any]]:
    """The settings that point storage at a fresh bucket of a running server."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    bucket = f"backline-{uuid.uuid4().hex[:8]}"
    overrides = {
        "storage_url": f"s3://{bucket}/files",
        "storage_s3_endpoint_url": f"http://127.0.0.1:{port}",
        "storage_s3_region": "us-east-1",
        "storage_s3_access_key_id": "test-key",
        "storage_s3_secret_access_key": "test-secret",
    }
    boto3.client(
        "s3",
        endpoint_url=overrides["storage_s3_endpoint_url"],
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    ).create_bucket(Bucket=bucket)
    try:
        yield overrides
    finally:
        server.stop()
