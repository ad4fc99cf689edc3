"""Reading distributor reports: the real fixtures as they are, every format, encoding and
container, exact amounts, rejected rows with their numbers, unknown headers explained."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.revenue_reports import HEADERS, Report, gzipped, zip_of_zips
from workers.revenue.formats import UnknownFormat
from workers.revenue.parsing import (
    BadRow,
    NotAReport,
    Rejected,
    Row,
    parse_amount,
    parse_month,
    read_rows,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "revenue"  # real exports


def rows_of(data: bytes) -> tuple[str, list[Row], list[Rejected]]:
    found, rows = read_rows(io.BytesIO(data))
    everything = list(rows)
    good = [r for r in everything if isinstance(r, Row)]
    bad = [r for r in everything if isinstance(r, Rejected)]
    return found.name, good, bad


def test_the_distrokid_fixture_keeps_its_tiny_amounts_exactly() -> None:
    name, rows, bad = rows_of((FIXTURES / "DistroKid_Test.tsv").read_bytes())
    assert (name, bad) == ("distrokid", [])
    assert [r.amount for r in rows] == [
        Decimal("0.00789993"),
        Decimal("0.00031410"),
        Decimal("0.00048066"),
        Decimal("0.00061710"),  # the last line has no line end
    ]
    assert rows[0].sale_month == date(2021, 4, 1)
    assert (rows[0].store, rows[0].country, rows[0].isrc) == ("Napster", "US", "AAAAA1234567")
    assert [r.row_number for r in rows] == [2, 3, 4, 5]


def test_the_non_ascii_fixture_keeps_accents_and_typographic_apostrophes() -> None:
    _, rows, _ = rows_of((FIXTURES / "DistroKid_NonAscii.tsv").read_bytes())
    assert rows[0].artist == "Tøilette & Café"
    assert rows[1].title == "Hier, à lʼaube, jʼai fait une petite pisse"


def test_tunecore_amounts_are_in_the_accounts_currency_not_usd() -> None:
    name, rows, _ = rows_of((FIXTURES / "Tunecore_Test.csv").read_bytes())
    assert name == "tunecore"
    assert {r.currency for r in rows} == {"GBP"}
    assert sum(r.amount for r in rows) == Decimal("0.1355")
    assert rows[0].isrc == "BCDEF5678901"


def test_cd_baby_dates_barcodes_and_lower_case_isrcs() -> None:
    name, rows, _ = rows_of((FIXTURES / "CdBaby_Test.txt").read_bytes())
    assert name == "cdbaby"
    assert rows[0].sale_month == date(2023, 7, 1)
    assert (rows[0].isrc, rows[0].upc) == ("USX123000001", "880000000001")
    assert rows[0].amount == Decimal("0.0998269974")


@pytest.mark.parametrize("fmt", sorted(HEADERS))
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"])
def test_every_format_in_every_encoding_sums_exactly(fmt: str, encoding: str) -> None:
    report = Report(fmt, rows=300, seed=3, currency="EUR")
    name, rows, bad = rows_of(report.bytes(encoding=encoding))
    assert (name, bad, len(rows)) == (fmt, [], 300)
    assert sum(r.amount for r in rows) == sum(report.totals.values())
    assert any(r.amount < 0 for r in rows)  # negative adjustments kept


def test_cp1252_bytes_are_read_as_cp1252() -> None:
    data = (
        "\t".join(HEADERS["distrokid"]) + "\r\n"
        "2023-02-02\t2021-04\tNapster\tCaf\xe9 \x93Noir\x94\tT\tAAAAA1234567\t1\t1\t100\tSong\tUS"
        "\t0\t1.5\r\n"
    ).encode("latin-1")
    _, rows, _ = rows_of(data)
    assert rows[0].artist == "Café “Noir”"


def test_gzip_and_the_newer_distrokid_zip_of_zips() -> None:
    one, two = Report("distrokid_csv", rows=40, seed=1), Report("distrokid_csv", rows=25, seed=2)
    name, rows, _ = rows_of(zip_of_zips(one.bytes(), two.bytes()))
    assert (name, len(rows)) == ("distrokid_csv", 65)
    assert sum(r.amount for r in rows) == one.totals["USD"] + two.totals["USD"]
    assert len({r.row_number for r in rows}) == 65  # numbered on across the inner reports
    _, rows, _ = rows_of(gzipped(Report("cdbaby", rows=10).bytes()))
    assert len(rows) == 10


def test_columns_in_any_order_and_any_case() -> None:
    data = (
        b"  EARNINGS (usd)\tcountry of SALE\tISRC\tStore\tSale Month\tReporting Date\tArtist\t"
        b"Title\tUPC\tQuantity\tTeam Percentage\tSong/Album\tSongwriter Royalties Withheld\r\n"
        b"$1,234.567890123\tgb\t\tSpotify\t2024-01\t2024-03-01\tA\tT\t\t3\t100\tAlbum\t0\r\n"
    )
    _, rows, _ = rows_of(data)
    assert (rows[0].amount, rows[0].country, rows[0].isrc) == (
        Decimal("1234.567890123"),
        "GB",
        "",
    )


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        ("0.007483664425", Decimal("0.007483664425")),
        ("(123.45)", Decimal("-123.45")),
        ("-$1,000.50", Decimal("-1000.50")),
        ("€ 12.5", Decimal("12.5")),
        ("£3", Decimal("3")),
        ("7.5-", Decimal("-7.5")),
        ("1.5E-7", Decimal("1.5E-7")),
    ],
)
def test_amounts_are_exact(raw: str, amount: Decimal) -> None:
    assert parse_amount(raw) == amount


@pytest.mark.parametrize("raw", ["", "abc", "1.2.3", "0.0000000000001", "1" * 17, "nan"])
def test_amounts_that_cannot_be_kept_exactly_are_refused(raw: str) -> None:
    with pytest.raises(BadRow):
        parse_amount(raw)


@pytest.mark.parametrize(
    ("raw", "month"),
    [
        ("2021-04", date(2021, 4, 1)),
        ("2020-04-17", date(2020, 4, 1)),
        ("20-06-01", date(2020, 6, 1)),
        ("7/31/2023 12:00:00 AM", date(2023, 7, 1)),
        ("12/1/2023", date(2023, 12, 1)),
    ],
)
def test_sale_months(raw: str, month: date) -> None:
    assert parse_month(raw) == month


def test_bad_rows_are_rejected_with_their_number_and_reason_and_the_rest_read() -> None:
    header = "\t".join(HEADERS["distrokid"])
    good = "2023-02-02\t2021-04\tNapster\tA\tT\tAAAAA1234567\t1\t1\t100\tSong\tUS\t0\t1.5"
    data = "\r\n".join(
        [
            header,
            good,
            good.replace("1.5", "lots"),
            good.replace("2021-04", "April"),
            "",
            good.replace("\tUS\t", "\tUSA\t"),
            "short\trow",
            good,
        ]
    ).encode()
    _, rows, bad = rows_of(data)
    assert [r.row_number for r in rows] == [2, 8]
    assert [(b.row_number, b.reason) for b in bad] == [
        (3, "amount 'lots' is not a number"),
        (4, "sale date 'April' is not a date"),
        (6, "country 'USA' is not a two-letter code"),
        (7, "2 columns where the header has at least 9"),
    ]


def test_an_unknown_header_lists_the_formats_and_their_columns() -> None:
    with pytest.raises(UnknownFormat) as refused:
        rows_of(b"date,amount,who\r\n2024-01-01,1,me\r\n")
    message = str(refused.value)
    assert "'date', 'amount', 'who'" in message
    for label in ("DistroKid (classic TSV)", "TuneCore", "CD Baby", "recoup (usd)"):
        assert label in message


def test_an_empty_file_is_not_a_report() -> None:
    with pytest.raises(NotAReport):
        rows_of(b"")
