"""S3 (or any S3-compatible store: MinIO, Ceph, R2, moto): the boto3 client the storage uses.

Endpoint, region and keys come from settings (STORAGE_S3_*); with no keys set, boto3's own
chain finds them (instance role, AWS_* variables, ~/.aws). Timeouts are bounded and boto3's
"standard" retry mode retries throttling, 5xx and lost connections with backoff.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

from config import Settings


def s3_client(settings: Settings) -> Any:
    """A client for the configured store, made once per process and configuration (clients
    are thread-safe, and making one costs tens of milliseconds)."""
    return _client(
        settings.storage_s3_endpoint_url,
        settings.storage_s3_region,
        settings.storage_s3_access_key_id,
        settings.storage_s3_secret_access_key,
    )


@functools.lru_cache(maxsize=8)
def _client(endpoint_url: str, region: str, key_id: str, secret: str) -> Any:
    keys = {"aws_access_key_id": key_id, "aws_secret_access_key": secret} if key_id else {}
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region,
        config=Config(
            connect_timeout=10,
            read_timeout=60,
            retries={"mode": "standard", "max_attempts": 5},
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        ),
        **keys,
    )
