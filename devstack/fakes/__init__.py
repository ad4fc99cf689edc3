"""Local stand-ins for the external APIs Backline calls, speaking their real wire formats.

Each vendor's module (`devstack/fakes/<vendor>.py`) defines `FAKE`, a `Fake`: a WSGI app that
answers as the vendor does (formats, paging, errors, rate-limit headers) and the environment
variables that point Backline at it. Its name goes in `FAKES`. The tests serve a fake with
`serve(fake.create_app())` and drive it through the real client library; `make run` serves
every fake whose vendor has no key in the environment, so each product flow works on a laptop
with no account anywhere, and uses the real service as soon as its key is set.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

log = logging.getLogger("devstack.fakes")

# The vendors' modules, each defining FAKE.
FAKES: tuple[str, ...] = (
    "devstack.fakes.oidc",
    "devstack.fakes.github",
    "devstack.fakes.scrapecreators",
    "devstack.fakes.stripe",
    "devstack.fakes.openai",
    "devstack.fakes.brave",
    "devstack.fakes.neverbounce",
    "devstack.fakes.resend",
)


@dataclass(frozen=True)
class Fake:
    """One vendor's stand-in and how Backline is pointed at it."""

    name: str  # as the banner shows it: "ScrapeCreators"
    base_url_variable: str  # the setting that holds the vendor's base URL
    key_variable: str  # set in the environment: the real vendor is used, no fake
    create_app: Callable[[], Any]  # a WSGI app
    env: Mapping[str, str] = field(default_factory=dict)  # e.g. the key the fake accepts
    path: str = ""  # appended to the served URL to make the base URL ("/v1")


class Served:
    """A WSGI app served on a free port of 127.0.0.1, in a thread, until `stop()`."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self.url = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"fake:{self.url}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve(app: Any) -> Served:
    return Served(app)


def load(name: str) -> Fake:
    fake: Fake = importlib.import_module(name).FAKE
    return fake


def start_fakes(
    stack: ExitStack, environ: Mapping[str, str], env: dict[str, str], summary: dict[str, str]
) -> None:
    """Serve the fake of every vendor whose key `environ` leaves unset, pointing `env` at it."""
    for name in FAKES:
        fake = load(name)
        if environ.get(fake.key_variable):
            summary[fake.name] = f"the real service ({fake.key_variable} is set)"
            continue
        served = serve(fake.create_app())
        stack.callback(served.stop)
        env[fake.base_url_variable] = served.url + fake.path
        for variable, value in fake.env.items():
            env.setdefault(variable, value)
        summary[fake.name] = f"fake on {served.url} (set {fake.key_variable} for the real one)"
        log.info("serving the %s fake on %s", fake.name, served.url)
