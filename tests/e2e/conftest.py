"""The e2e tests' stacks: real processes on the test run's database and Redis namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config import Settings
from tests.e2e.stack import Stack
from workers.core.setup import Platform


@pytest.fixture()
def stack(settings: Settings, committed_platform: Platform, tmp_path: Path) -> Iterator[Stack]:
    """A stack with nothing started yet (each test starts what it needs); stopped after."""
    stack = Stack(settings, tmp_path)
    yield stack
    stack.stop()


@pytest.fixture()
def api(stack: Stack) -> Stack:
    """The API alone, running."""
    stack.start_api()
    return stack
