"""Small company websites for the lead search's fetch stage to crawl.

`serve_sites(n)` serves n companies, each on its own loopback address (127.0.0.2, .3, ...)
so each is its own web host, as the companies a search finds are. A company's home page
carries its name, e-mail addresses, phone and social links; `/robots.txt` disallows
`/private/`; company 0's page is over 2 MB (beyond the fetch cap) once `big_first` is set.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from devstack.fakes import Served

TRADES = ("Plumbing", "Roofing", "Dental", "Bakery", "Landscaping", "Electrical")


def company_page(index: int, *, big: bool = False) -> str:
    trade = TRADES[index % len(TRADES)]
    name = f"Acme {trade} {index}"
    slug = f"acme{index}"
    filler = "<p>" + "x" * (2 * 1024 * 1024) + "</p>" if big else ""
    return f"""<!doctype html><html><head><title>{name} | Family-owned {trade.lower()}</title>
<meta property="og:site_name" content="{name}"></head><body>
<h1>{name}</h1><p>Family-owned {trade.lower()} business serving Austin since 1998.
Free estimates, licensed and insured.</p>
<p>Write to <a href="mailto:owner.{slug}@{slug}.example">our owner</a> or info@{slug}.example,
or call <a href="tel:+1-512-555-01{index % 100:02d}">+1 512 555 01{index % 100:02d}</a>.</p>
<a href="https://www.linkedin.com/company/{slug}">LinkedIn</a>
<a href="https://instagram.com/{slug}?ref=site">Instagram</a>
<img src="logo@2x.png">{filler}</body></html>"""


class Site:
    def __init__(self, index: int, *, big: bool = False) -> None:
        self.index = index
        self.big = big
        self.hits: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        self.hits.append(request.path)
        if request.path == "/robots.txt":
            response = Response("User-agent: *\nDisallow: /private/\n", mimetype="text/plain")
        elif request.path.startswith("/private/"):
            response = Response(company_page(self.index), mimetype="text/html")
        elif request.path == "/":
            response = Response(company_page(self.index, big=self.big), mimetype="text/html")
        else:
            response = Response("not found", 404)
        return response(environ, start_response)


def serve_sites(count: int, *, big_first: bool = False) -> list[tuple[Served, Site]]:
    served = []
    for index in range(count):
        site = Site(index, big=big_first and index == 0)
        served.append((Served(site, host=f"127.0.0.{index + 2}"), site))
    return served
