"""The distributor report formats Backline reads, told apart by their header.

Headers are compared after folding case and spacing, in any column order. A format matches
when every column it needs is present; among several matches the one needing the most columns
wins (the newer DistroKid export is the classic one plus three columns, renamed in places).
Facts: shared reference §4 and the TrackShift fixtures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from workers.core.errors import PermanentError


@dataclass(frozen=True)
class ReportFormat:
    name: str
    label: str
    # Our field -> the (folded) header it comes from.
    columns: dict[str, str]
    # Columns that identify the format but are not read.
    markers: tuple[str, ...] = ()
    currency: str | None = None  # fixed currency, when no column says it
    needed: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "needed", frozenset((*self.columns.values(), *self.markers)))


_DISTROKID = {
    "sale_month": "sale month",
    "store": "store",
    "artist": "artist",
    "title": "title",
    "isrc": "isrc",
    "upc": "upc",
    "quantity": "quantity",
    "country": "country of sale",
    "amount": "earnings (usd)",
}

FORMATS: tuple[ReportFormat, ...] = (
    ReportFormat(
        "distrokid",
        "DistroKid (classic TSV)",
        _DISTROKID,
        markers=("reporting date", "song/album", "songwriter royalties withheld"),
        currency="USD",
    ),
    ReportFormat(
        "distrokid_csv",
        "DistroKid (newer CSV, zipped)",
        _DISTROKID,
        markers=(
            "date inserted",
            "reporting date",
            "source type",
            "songwriter royalties withheld (usd)",
            "recoup (usd)",
        ),
        currency="USD",
    ),
    ReportFormat(
        "tunecore",
        "TuneCore",
        {
            "sale_month": "sales period",
            "store": "store name",
            "country": "country of sale",
            "artist": "artist",
            "title": "song title",
            "isrc": "optional isrc",
            "upc": "upc",
            "quantity": "# units sold",
            "amount": "total earned",
            "currency": "currency",
        },
        markers=("posted date", "exchange rate"),
    ),
    ReportFormat(
        "cdbaby",
        "CD Baby",
        {
            "sale_month": "sales date",
            "store": "partner name",
            "country": "delivery country",
            "artist": "artist name",
            "title": "track name",
            "isrc": "isrc",
            "upc": "barcode",
            "quantity": "quantity",
            "amount": "subtotal",
        },
        markers=("report date", "transaction type"),
        currency="USD",
    ),
)


class UnknownFormat(PermanentError):
    """The header matches no report format Backline reads."""


def fold(header: str) -> str:
    """A header compared without case, surrounding quotes, BOM or extra spacing."""
    return " ".join(header.replace("\ufeff", "").strip().strip('"').split()).lower()


def detect(header: Sequence[str]) -> tuple[ReportFormat, dict[str, int]]:
    """The format of a report with this header, and where each of its fields is."""
    folded = [fold(h) for h in header]
    present = set(folded)
    matches = [f for f in FORMATS if f.needed <= present]
    if not matches:
        raise UnknownFormat(describe_formats(folded))
    found = max(matches, key=lambda f: len(f.needed))
    return found, {name: folded.index(column) for name, column in found.columns.items()}


def describe_formats(header: Sequence[str]) -> str:
    shown = ", ".join(repr(h) for h in header[:30]) or "(empty)"
    known = "; ".join(f"{f.label}: {', '.join(sorted(f.needed))}" for f in FORMATS)
    return f"the header matches no known report format. Header: {shown}. Known formats: {known}"
