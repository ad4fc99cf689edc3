"""Requests to user-chosen URLs reach public addresses only, checked at each connection."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from config import load_settings
from workers.clients.outbound import BlockedAddress, is_public, public_client


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/hop?to="):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/hop?to="))
            self.end_headers()
            return
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # shared (CGNAT)
        "0.0.0.0",  # noqa: S104 - an address under test, not a binding
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:a00:1::",  # 6to4 of 10.0.0.1
    ],
)
def test_inside_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:84e5", "8.8.8.8"])
def test_internet_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_a_loopback_url_is_refused_by_address_and_by_a_name_that_resolves_to_it(
    local_server: int,
) -> None:
    settings = load_settings({})
    with public_client(settings, timeout=5) as client:
        for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]"):
            with pytest.raises(BlockedAddress):
                client.get(f"http://{host}:{local_server}/")


def test_allowed_networks_open_the_way_and_a_redirect_is_checked_at_its_own_hop(
    local_server: int,
) -> None:
    allowed = load_settings({"OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8"})
    with public_client(allowed, timeout=5, follow_redirects=True) as client:
        to = f"http://127.0.0.1:{local_server}/"
        response = client.get(f"http://localhost:{local_server}/hop?to={to}")
        assert response.status_code == 200 and response.text == "hello"

    # The first address allowed, the one the redirect names not: refused at the second hop.
    first_only = load_settings({"OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1/32"})
    with (
        public_client(first_only, timeout=5, follow_redirects=True) as client,
        pytest.raises(BlockedAddress, match="127.0.0.2"),
    ):
        client.get(f"http://127.0.0.1:{local_server}/hop?to=http://127.0.0.2:{local_server}/")


def test_blocked_is_a_connect_error_so_callers_handle_it_as_one() -> None:
    assert issubclass(BlockedAddress, httpx.ConnectError)


def test_environment_proxies_are_not_used(
    local_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would connect where we did not check; the client ignores HTTP(S)_PROXY.
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    allowed = load_settings({"OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1"})
    with public_client(allowed, timeout=5) as client:
        assert client.get(f"http://127.0.0.1:{local_server}/").text == "hello"
