"""The house's rules hold, and `make lint` catches each kind of breach (pyproject.toml's
[tool.importlinter] contracts, run on a copy of the tree with one bad import added)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("web", "workers", "models", "config", "devstack")
LINT = Path(sys.executable).parent / "lint-imports"


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}  # the tree's packages, not the installed ones
    return subprocess.run(
        [str(LINT), "--no-cache", "--no-logo"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        (
            "models/core/jobs/reads.py",
            "import web.core.auth",
            "Dependencies point one way: web -> workers -> models -> config BROKEN",
        ),
        (
            "workers/core/recovery.py",
            "from models.accounts import User",
            "The job platform (core) and the clients import no product domain BROKEN",
        ),
        (
            "web/core/health.py",
            "import web.orgs",
            "The job platform (core) and the clients import no product domain BROKEN",
        ),
        (
            "workers/clients/smtp.py",
            "import workers.mail",
            "The job platform (core) and the clients import no product domain BROKEN",
        ),
        (
            "web/orgs/invitations.py",
            "from models.accounts.users import AuthSession",
            "Other domains use accounts through its public modules only BROKEN",
        ),
        (
            "models/accounts/admin.py",
            "from models.orgs.invitations import Invitation",
            "Other domains use orgs through its public modules only BROKEN",
        ),
    ],
)
def test_a_bad_import_breaks_its_contract(
    tree: Path, module: str, bad_import: str, contract: str
) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{bad_import}  # noqa\n")

    result = lint(tree)

    assert result.returncode != 0
    assert contract in result.stdout, result.stdout
