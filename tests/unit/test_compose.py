"""docker-compose.yml agrees with the code: the variables it sets are ones Backline reads,
the commands it runs exist, and the production settings it produces are valid."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]
BACKLINE_SERVICES = ("migrate", "api", "worker", "scheduler")
# ${NAME}, ${NAME:-default}, ${NAME:?error}: the forms Compose interpolates.
_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def interpolate(value: str, shell: dict[str, str]) -> str:
    """What Compose makes of `value` given the shell's environment `shell`."""

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if shell.get(name):
            return shell[name]
        if kind == "?":
            raise KeyError(rest)
        return rest or ""

    return _VARIABLE.sub(one, value)


def service_env(service: dict[str, Any], shell: dict[str, str]) -> dict[str, str]:
    return {
        name: interpolate(str(value), shell)
        for name, value in service.get("environment", {}).items()
    }


def test_backline_services_set_only_variables_the_settings_read(compose: dict[str, Any]) -> None:
    source = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', source))
    for name in BACKLINE_SERVICES:
        unknown = set(compose["services"][name]["environment"]) - read
        assert not unknown, f"{name} sets variables config/settings.py never reads: {unknown}"


def test_jwt_secret_must_come_from_the_shell(compose: dict[str, Any]) -> None:
    for name in BACKLINE_SERVICES:
        env = compose["services"][name]["environment"]
        assert re.fullmatch(r"\$\{JWT_SECRET:\?[^}]+\}", env["JWT_SECRET"])
        with pytest.raises(KeyError):
            service_env(compose["services"][name], shell={})


def test_the_environment_compose_builds_is_valid_production_settings(
    compose: dict[str, Any],
) -> None:
    shell = {"JWT_SECRET": "s" * 48}
    for name in BACKLINE_SERVICES:
        settings = load_settings(service_env(compose["services"][name], shell))
        assert settings.is_production
        assert settings.database_url.endswith("@postgres:5432/backline")
        assert settings.redis_url == "redis://redis:6379/0"


def test_a_short_jwt_secret_is_refused(compose: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        load_settings(service_env(compose["services"]["api"], {"JWT_SECRET": "short"}))


def test_every_command_names_code_that_exists(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
    assert (ROOT / "alembic.ini").exists()
    for name, module in (("worker", "workers"), ("scheduler", "workers.core.scheduler")):
        assert services[name]["command"] == ["python", "-m", module]
        assert importlib.util.find_spec(module) is not None
    api = services["api"]["command"]
    assert api[:4] == ["gunicorn", "-c", "python:config.server", "web:create_app()"]
    assert "0.0.0.0:8000" in api
    assert callable(importlib.import_module("web").create_app)
    server = importlib.import_module("config.server")
    module, _, name = server.worker_class.rpartition(".")
    assert getattr(importlib.import_module(module), name) is server.ApiWorker


def health_routes() -> list[Any]:
    """The routes of the health blueprint, without building the whole app."""
    from flask import Flask

    from web.core.health import blp

    app = Flask("routes")
    app.register_blueprint(blp)
    return list(app.url_map.iter_rules())


def test_services_have_images_and_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    redis_command = services["redis"]["command"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    for name in ("postgres", "redis", "api", "worker", "scheduler"):
        assert services[name]["healthcheck"]["test"], name
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "127.0.0.1:8000/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    assert "/readyz" in {rule.rule for rule in health_routes()}
    for name in ("worker", "scheduler"):
        check = services[name]["healthcheck"]["test"]
        assert check == ["CMD", "python", "-m", "workers.core.health"]
        assert importlib.util.find_spec("workers.core.health") is not None
    for name in BACKLINE_SERVICES:
        assert services[name]["build"] == "."
        assert services[name]["image"]


def test_backline_services_wait_for_their_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("api", "worker", "scheduler"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_metrics_run_in_multi_process_mode_on_a_fresh_directory(compose: dict[str, Any]) -> None:
    shell = {"JWT_SECRET": "s" * 48}
    for name in ("api", "worker"):
        service = compose["services"][name]
        settings = load_settings(service_env(service, shell))
        assert settings.prometheus_multiproc_dir in service["tmpfs"]
        assert settings.metrics_token == ""  # unset: production answers 404 on /metrics
    worker = load_settings(service_env(compose["services"]["worker"], shell))
    assert str(worker.worker_metrics_port) in compose["services"]["worker"]["expose"]
    with_token = load_settings(
        service_env(compose["services"]["api"], {**shell, "METRICS_TOKEN": "t"})
    )
    assert with_token.metrics_token == "t"
