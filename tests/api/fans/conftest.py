"""The fans API on each store: a directory of the test's own, and an S3-compatible server."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from web import create_app
from workers.core.setup import Platform


@pytest.fixture(params=["local", "s3"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Settings for each store: a directory of the test's own, and a bucket of a local
    S3-compatible server."""
    if request.param == "s3":
        return request.getfixturevalue("s3_settings")  # type: ignore[no-any-return]
    return {"storage_url": str(tmp_path / "storage")}


@pytest.fixture()
def app(tx_platform: Platform, store_settings: dict[str, Any]) -> Flask:
    settings = tx_platform.settings.replace(**store_settings)
    return create_app(platform=dataclasses.replace(tx_platform, settings=settings))
