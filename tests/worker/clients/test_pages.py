"""Fetching found pages: robots.txt, the size cap and the public-address rule hold."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config import Settings
from devstack.fakes import Served
from devstack.fakes.sites import Site, serve_sites
from workers.clients.pages import Fetcher, PageSkipped


@pytest.fixture()
def sites() -> Iterator[list[tuple[Served, Site]]]:
    served = serve_sites(2, big_first=True)
    yield served
    for server, _ in served:
        server.stop()


def allowing_loopback() -> Settings:
    return Settings(outbound_allowed_networks=("127.0.0.0/8",), leads_fetch_max_bytes=100_000)


def test_a_page_is_read_after_its_robots_txt(sites: list[tuple[Served, Site]]) -> None:
    (_, _), (server, site) = sites
    with Fetcher(allowing_loopback()) as fetcher:
        page = fetcher.fetch(server.url + "/")

    assert "Acme Roofing 1" in page
    assert site.hits == ["/robots.txt", "/"]


def test_a_path_robots_txt_disallows_is_not_fetched(sites: list[tuple[Served, Site]]) -> None:
    server, site = sites[1]
    with Fetcher(allowing_loopback()) as fetcher, pytest.raises(PageSkipped, match="robots"):
        fetcher.fetch(server.url + "/private/team")

    assert site.hits == ["/robots.txt"]


def test_a_page_over_the_size_cap_is_not_read(sites: list[tuple[Served, Site]]) -> None:
    server, _ = sites[0]  # over 2 MB
    with Fetcher(allowing_loopback()) as fetcher, pytest.raises(PageSkipped, match="larger"):
        fetcher.fetch(server.url + "/")


def test_a_loopback_address_is_refused_unless_allowed(sites: list[tuple[Served, Site]]) -> None:
    server, site = sites[1]
    with Fetcher(Settings()) as fetcher, pytest.raises(PageSkipped, match="may not reach"):
        fetcher.fetch(server.url + "/")

    assert site.hits == []
