"""HTTP to addresses a user chose (webhook endpoints, pages found by a search, avatars): never
to a private, loopback or link-local address unless the configuration allows it.

The check runs when a connection opens, on every address the name resolves to, and the
connection goes to the address that was checked: a name cannot pass the check with a public
address and then connect to a private one (DNS rebinding), and a redirect to an inside address
is refused at its own connection. TLS still checks the certificate against the name.

Vendor APIs whose base URL is configured by the operator (the fakes run on loopback) use
plain httpx; this client is for URLs that come from users or from the web.

    with public_client(settings, timeout=15) as client:
        response = client.post(url, content=body)   # BlockedAddress for 10.0.0.5
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Any

import httpcore
import httpx
from httpcore._backends.sync import SyncBackend

from config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddress(httpx.ConnectError):
    """The name resolves to an address outbound requests may not reach."""


def is_public(address: IPAddress) -> bool:
    """Routable on the internet: not private, loopback, link-local, multicast, reserved,
    shared (CGNAT), documentation or unspecified. An IPv4-mapped or NAT64-embedded IPv6
    address is judged by the IPv4 address inside it."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address in ipaddress.IPv6Network("64:ff9b::/96"):
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None:
            return is_public(address.sixtofour)
    return address.is_global and not address.is_multicast


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (or single addresses) from the configuration; a bad one is a ValueError."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values if value)


class _CheckedBackend(SyncBackend):
    """httpcore's socket backend, resolving the name itself and connecting only to an
    address that passed the check."""

    def __init__(self, allowed: Sequence[Network]) -> None:
        self._allowed = tuple(allowed)

    def allows(self, address: IPAddress) -> bool:
        return is_public(address) or any(address in network for network in self._allowed)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]
        # Every address must pass: a name with one public and one private address could
        # otherwise be made to connect to the private one.
        if not addresses or not all(self.allows(a) for a in addresses):
            raise BlockedAddress(f"{host} resolves to an address outbound requests may not reach")
        *others, last = dict.fromkeys(addresses)
        for address in others:  # the next address when one fails, as a browser would
            try:
                return super().connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError:
                continue
        return super().connect_tcp(str(last), port, timeout, local_address, socket_options)


def public_transport(settings: Settings, **kwargs: Any) -> httpx.HTTPTransport:
    """An httpx transport whose connections reach only allowed addresses."""
    transport = httpx.HTTPTransport(**kwargs)
    # httpx builds its httpcore pool without a way to pass a network backend; httpcore's
    # pool takes one (pyproject.toml bounds both versions for this).
    pool = transport._pool  # noqa: SLF001
    if not isinstance(pool, httpcore.ConnectionPool):
        raise TypeError("httpx's transport no longer holds an httpcore.ConnectionPool")
    pool._network_backend = _CheckedBackend(  # noqa: SLF001
        parse_networks(settings.outbound_allowed_networks)
    )
    return transport


def public_client(settings: Settings, **kwargs: Any) -> httpx.Client:
    """An httpx.Client for user-chosen URLs (keyword arguments as httpx.Client's). It ignores
    proxy variables from the environment: a proxy would connect where we did not check."""
    transport_options = {k: kwargs.pop(k) for k in ("verify", "http2", "retries") if k in kwargs}
    return httpx.Client(
        transport=public_transport(settings, **transport_options), trust_env=False, **kwargs
    )
