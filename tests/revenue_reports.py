"""Realistic distributor reports of any size, in each format Backline reads, for the tests and
the bench: many stores, countries and ISRCs, negative adjustments, 8-12 decimal places, and
the encodings and containers distributors ship (UTF-8 with or without BOM, UTF-16, cp1252;
gzip; the newer DistroKid zip of zips).

    report = Report("distrokid", rows=1000, seed=7)
    data = report.bytes()                 # or report.write(stream) for millions of rows
    report.totals                         # {"USD": Decimal(...)}: what the import must sum to
"""

from __future__ import annotations

import csv
import gzip
import io
import random
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO

STORES = (
    "Spotify",
    "Apple Music",
    "YouTube (Ads)",
    "YouTube (Red)",
    "Amazon Unlimited (Streaming)",
    "Deezer",
    "Tidal",
    "Instagram/Facebook",
    "iTunes Songs",
    "iTunes Match",
    "Google Play All Access",
    "Napster",
    "TikTok",
    "Pandora",
    "iTunes - Apple Music – US",
)
COUNTRIES = ("US", "GB", "DE", "FR", "BR", "IN", "JP", "MX", "CA", "AU", "OU", "SE", "NG")
TITLES = ("Café au lait", "Hier, à lʼaube", "Søndag", "Night Drive", "Ünïcödé", "Plain Song")

HEADERS = {
    "distrokid": [
        "Reporting Date", "Sale Month", "Store", "Artist", "Title", "ISRC", "UPC", "Quantity",
        "Team Percentage", "Song/Album", "Country of Sale", "Songwriter Royalties Withheld",
        "Earnings (USD)",
    ],
    "distrokid_csv": [
        "Date Inserted", "Reporting Date", "Sale Month", "Store", "Artist", "Title", "ISRC",
        "UPC", "Quantity", "Team Percentage", "Source Type", "Country of Sale",
        "Songwriter Royalties Withheld (USD)", "Earnings (USD)", "Recoup (USD)",
    ],
    "tunecore": [
        "Sales Period", "Posted Date", "Store Name", "Country Of Sale", "Artist", "Release Type",
        "Release Title", "Song Title", "Label", "UPC", "Optional UPC", "TC Song ID",
        "Optional ISRC", "Sales Type", "# Units Sold", "Per Unit Price", "Net Sales",
        "Net Sales Currency", "Exchange Rate", "Total Earned", "Currency",
    ],
    "cdbaby": [
        "Report Date", "Sales Date", "Quantity", "Price", "Subtotal", "Isrc", "Barcode",
        "CDBabySku", "Album Name", "Artist Name", "Track Name", "Partner Name",
        "Transaction Type", "Delivery Country",
    ],
}  # fmt: skip


@dataclass
class Report:
    format: str
    rows: int
    seed: int = 1
    tracks: int = 200
    negative_every: int = 50  # one row in this many is a negative adjustment
    currency: str = "USD"  # TuneCore only: the account's currency
    totals: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def records(self) -> Iterator[list[str]]:
        """The header, then `rows` records; `totals` fills as they are made."""
        rng = random.Random(self.seed)  # noqa: S311 - test data, reproducible by seed
        yield HEADERS[self.format]
        isrcs = [f"QZ{'ABCDE'[i % 5]}{20 + i % 6:02d}{i:07d}"[:12] for i in range(self.tracks)]
        for n in range(self.rows):
            track = n % self.tracks
            isrc, title = isrcs[track], f"{TITLES[track % len(TITLES)]} {track}"
            year, month = 2021 + (n // 7) % 4, 1 + n % 12
            store, country = STORES[rng.randrange(len(STORES))], COUNTRIES[n % len(COUNTRIES)]
            quantity = rng.randrange(1, 5000)
            amount = Decimal(rng.randrange(1, 10**10)).scaleb(-12) * quantity
            if n % self.negative_every == self.negative_every - 1:
                quantity, amount = -quantity, -amount
            amount = amount.quantize(Decimal("1e-12"))
            yield self._record(year, month, store, country, isrc, title, quantity, amount)

    def _record(
        self,
        year: int,
        month: int,
        store: str,
        country: str,
        isrc: str,
        title: str,
        quantity: int,
        amount: Decimal,
    ) -> list[str]:
        ym, upc = f"{year}-{month:02d}", f"0{int(isrc[-7:]):011d}"
        if self.format == "distrokid":
            self.totals["USD"] += amount
            return [f"{ym}-15", ym, store, "The Artist", title, isrc, upc, str(quantity), "100",
                    "Song", country, "0", f"{amount:f}"]  # fmt: skip
        if self.format == "distrokid_csv":
            self.totals["USD"] += amount
            return [f"{ym}-20", f"{ym}-15", ym, store, "The Artist", title, isrc, upc,
                    str(quantity), "100", "Song", country, "0", f"{amount:f}", "0"]  # fmt: skip
        if self.format == "tunecore":
            self.totals[self.currency] += amount
            period = f"{year % 100:02d}-{month:02d}-01" if quantity % 2 else f"{ym}-01"
            shown = f"({-amount:f})" if amount < 0 else f"{amount:f}"
            return [period, f"{ym}-28", store, country, "The Artist", "Song", "Album", title,
                    "Label", upc, "", "123", isrc, "Streaming", str(quantity), "0.0003",
                    "0.1", "USD", "0.79", shown, self.currency]  # fmt: skip
        self.totals["USD"] += amount
        return [f"{month}/15/{year} 12:00:00 AM", f"{month}/1/{year} 12:00:00 AM", str(quantity),
                "0.001", f"{amount:f}", isrc.lower(), upc, "sku", "Album", "The Artist", title,
                store, "Stream", country]  # fmt: skip

    def write(self, target: IO[bytes], *, encoding: str = "utf-8") -> None:
        """The report as its distributor writes it, in `encoding`."""
        text = io.TextIOWrapper(target, encoding=encoding, newline="", write_through=False)
        if self.format == "distrokid_csv":
            writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        elif self.format == "tunecore":
            writer = csv.writer(text, lineterminator="\r\n")
        else:
            writer = csv.writer(text, delimiter="\t", lineterminator="\r\n")
        writer.writerows(self.records())
        text.flush()
        text.detach()

    def bytes(self, *, encoding: str = "utf-8") -> bytes:
        out = io.BytesIO()
        self.write(out, encoding=encoding)
        return out.getvalue()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


def zip_of_zips(*reports: bytes) -> bytes:
    """The newer DistroKid delivery: a zip holding one zip per report, each with results.csv."""
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as archive:
        for n, data in enumerate(reports):
            inner = io.BytesIO()
            with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as one:
                one.writestr("results.csv", data)
            archive.writestr(f"part-{n}.zip", inner.getvalue())
    return outer.getvalue()
