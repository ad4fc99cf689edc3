"""devstack/fakes: a fake is served on a free port, and `make run` points Backline at it
unless the vendor's key is set."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import httpx
import pytest

import devstack.fakes
from devstack.fakes import Fake, serve, start_fakes


def _app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"path": "%s"}' % environ["PATH_INFO"].encode()]


FAKE = Fake(
    name="Example",
    base_url_variable="EXAMPLE_BASE_URL",
    key_variable="EXAMPLE_API_KEY",
    create_app=lambda: _app,
    env={"EXAMPLE_FAKE_KEY": "fake-key"},
    path="/v1",
)


@pytest.fixture()
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devstack.fakes, "FAKES", (__name__,))


def test_a_served_fake_answers_until_stopped() -> None:
    served = serve(_app)
    assert httpx.get(served.url + "/ping").json() == {"path": "/ping"}
    served.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(served.url + "/ping", timeout=2)


@pytest.mark.usefixtures("registered")
def test_without_a_key_the_stack_is_pointed_at_the_fake() -> None:
    env: dict[str, str] = {}
    summary: dict[str, str] = {}
    with ExitStack() as stack:
        start_fakes(stack, {}, env, summary)
        assert env["EXAMPLE_BASE_URL"].endswith("/v1")
        assert env["EXAMPLE_FAKE_KEY"] == "fake-key"
        assert httpx.get(env["EXAMPLE_BASE_URL"] + "/x").json() == {"path": "/v1/x"}
        assert "fake on" in summary["Example"]
    with pytest.raises(httpx.ConnectError):  # stopped with the stack
        httpx.get(env["EXAMPLE_BASE_URL"] + "/x", timeout=2)


@pytest.mark.usefixtures("registered")
def test_with_a_key_the_real_service_is_used() -> None:
    env: dict[str, str] = {}
    summary: dict[str, str] = {}
    with ExitStack() as stack:
        start_fakes(stack, {"EXAMPLE_API_KEY": "live"}, env, summary)
    assert env == {}
    assert "real service" in summary["Example"]
