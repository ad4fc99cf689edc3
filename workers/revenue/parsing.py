"""Reading a report as it streams: unpack, decode, split, and turn each line into an earnings
row or a rejection. Memory stays constant whatever the size: the csv module reads one record
at a time from a text wrapper over the (decompressed) byte stream.

- Containers: plain, gzip, or a zip (the newer DistroKid export is a zip of zips, each holding
  `results.csv`); every report inside a zip is read in turn, its rows numbered on from the
  previous one's.
- Encodings: a BOM decides (UTF-8, UTF-16 LE/BE); UTF-16 without one is seen by its zero
  bytes; otherwise UTF-8, any byte that is not UTF-8 read as cp1252 (Latin-1 where cp1252 has
  no character).
- Amounts: exact `Decimal`, 12 decimal places at most; `$ € £`, thousands commas, `(1.00)`
  and leading or trailing minus signs.
"""

from __future__ import annotations

import codecs
import csv
import functools
import gzip
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import IO

from workers.core.errors import PermanentError
from workers.revenue.formats import ReportFormat, detect

SNIFF_BYTES = 64 * 1024
MAX_DECIMALS = 12
MAX_INTEGER_DIGITS = 16
MAX_TEXT = 500
REPORT_SUFFIXES = (".csv", ".tsv", ".txt")
csv.field_size_limit(64 * 1024)  # one field never holds more: a bad file cannot fill memory


@dataclass(frozen=True, slots=True)
class Row:
    row_number: int
    sale_month: date
    store: str
    country: str
    isrc: str
    upc: str
    artist: str
    title: str
    quantity: int
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class Rejected:
    row_number: int
    reason: str


class BadRow(ValueError):
    """One field of a row cannot be read; the message says which and why."""


class NotAReport(PermanentError):
    """The file holds no report (an empty file, or a zip with nothing to read)."""


# -- containers and encodings ----------------------------------------------------------------
def _cp1252_or_latin1(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)  # noqa: S101 - registered for decoding only
    bad = error.object[error.start : error.end]
    return "".join(_one_byte(b) for b in bad), error.end


def _one_byte(b: int) -> str:
    try:
        return bytes([b]).decode("cp1252")
    except UnicodeDecodeError:
        return bytes([b]).decode("latin-1")


codecs.register_error("backline-cp1252", _cp1252_or_latin1)


def sniff_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = head[:4096]
    if len(sample) >= 4:
        if sample[1::2].count(0) > len(sample) // 4:
            return "utf-16-le"
        if sample[0::2].count(0) > len(sample) // 4:
            return "utf-16-be"
    return "utf-8"


def _peekable(stream: IO[bytes]) -> io.BufferedReader:
    if isinstance(stream, io.BufferedReader):
        return stream
    return io.BufferedReader(stream, buffer_size=SNIFF_BYTES)  # type: ignore[arg-type]


def report_streams(raw: IO[bytes]) -> Iterator[IO[bytes]]:
    """Every report the file holds, as a byte stream: the file itself, unzipped or gunzipped."""
    stream = _peekable(raw)
    magic = stream.peek(4)[:4]
    if magic[:2] == b"\x1f\x8b":
        yield from report_streams(gzip.GzipFile(fileobj=stream))  # type: ignore[arg-type]
    elif magic == b"PK\x03\x04":
        yield from _zipped(zipfile.ZipFile(stream))
    else:
        yield stream


def _zipped(archive: zipfile.ZipFile) -> Iterator[IO[bytes]]:
    for info in sorted(archive.infolist(), key=lambda i: i.filename):
        name = info.filename.lower()
        if info.is_dir() or "__macosx" in name:
            continue
        if name.endswith(".zip"):
            with archive.open(info) as inner:
                yield from _zipped(zipfile.ZipFile(inner))  # type: ignore[arg-type]
        elif name.endswith(REPORT_SUFFIXES + (".gz",)):
            with archive.open(info) as member:
                yield from report_streams(member)


def text_of(stream: IO[bytes]) -> io.TextIOWrapper:
    buffered = _peekable(stream)
    encoding = sniff_encoding(buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES])
    errors = "backline-cp1252" if encoding.startswith("utf-8") else "strict"
    return io.TextIOWrapper(buffered, encoding=encoding, errors=errors, newline="")


def _delimiter(header_line: str) -> str:
    return max("\t,;", key=header_line.count)


# -- rows ------------------------------------------------------------------------------------
def read_rows(raw: IO[bytes]) -> tuple[ReportFormat, Iterator[Row | Rejected]]:
    """The report's format (from the first report's header) and its rows, read lazily."""
    streams = report_streams(raw)
    first = next(streams, None)
    if first is None:
        raise NotAReport("the zip holds no report (.csv, .tsv or .txt)")
    text = text_of(first)
    header_line = text.readline()
    if not header_line.strip():
        raise NotAReport("the file is empty: no header line")
    delimiter = _delimiter(header_line)
    header = next(csv.reader([header_line], delimiter=delimiter))
    found, where = detect(header)
    return found, _all_rows(found, where, delimiter, text, streams)


def _all_rows(
    found: ReportFormat,
    where: dict[str, int],
    delimiter: str,
    text: io.TextIOWrapper,
    more: Iterator[IO[bytes]],
) -> Iterator[Row | Rejected]:
    offset = 1  # the header was line 1
    while True:
        reader = csv.reader(text, delimiter=delimiter)
        for record in reader:
            number = offset + reader.line_num
            if not any(field.strip() for field in record):
                continue
            try:
                yield to_row(found, where, record, number)
            except BadRow as bad:
                yield Rejected(number, str(bad))
            except csv.Error as bad:  # pragma: no cover - csv raises while iterating
                yield Rejected(number, f"unreadable line: {bad}")
        offset += reader.line_num
        nxt = next(more, None)
        if nxt is None:
            return
        text = text_of(nxt)
        line = text.readline()
        detect(next(csv.reader([line], delimiter=_delimiter(line))))  # same format inside
        offset += 1


def to_row(found: ReportFormat, where: dict[str, int], record: list[str], number: int) -> Row:
    if len(record) <= max(where.values()):
        raise BadRow(f"{len(record)} columns where the header has at least {len(where)}")

    def cell(name: str) -> str:
        return record[where[name]].strip()

    currency = found.currency or cell("currency").upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise BadRow(f"currency {currency!r} is not a three-letter code")
    return Row(
        row_number=number,
        sale_month=parse_month(cell("sale_month")),
        store=_text(cell("store"), "store", required=True, limit=200),
        country=_country(cell("country")),
        isrc=_isrc(cell("isrc")),
        upc=_upc(cell("upc")),
        artist=_text(cell("artist"), "artist"),
        title=_text(cell("title"), "title"),
        quantity=parse_quantity(cell("quantity")),
        amount=parse_amount(cell("amount")),
        currency=currency,
    )


def _text(value: str, name: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    if required and not value:
        raise BadRow(f"{name} is empty")
    if len(value) > limit:
        raise BadRow(f"{name} is longer than {limit} characters")
    return value


def _country(value: str) -> str:
    value = value.upper()
    if value and not re.fullmatch(r"[A-Z]{2}", value):
        raise BadRow(f"country {value!r} is not a two-letter code")
    return value


def _isrc(value: str) -> str:
    value = value.upper().replace("-", "")
    if value and not re.fullmatch(r"[A-Z0-9]{12}", value):
        raise BadRow(f"ISRC {value!r} is not 12 letters and digits")
    return value


def _upc(value: str) -> str:
    value = value.removeprefix("=").strip('"').strip()
    if len(value) > 20:
        raise BadRow("UPC is longer than 20 characters")
    return value


_YMD = re.compile(r"(\d{4})-(\d{1,2})(?:-(\d{1,2}))?(?:[ T].*)?")
_YY_MM_DD = re.compile(r"(\d{2})-(\d{1,2})-(\d{1,2})")
_MDY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AaPp][Mm])?)?")


@functools.lru_cache(maxsize=4096)  # a report has a few dozen distinct dates
def parse_month(value: str) -> date:
    """The first day of the month a sale date or month names."""
    if m := _YMD.fullmatch(value):
        year, month, day = int(m[1]), int(m[2]), int(m[3] or 1)
    elif m := _YY_MM_DD.fullmatch(value):
        year, month, day = 2000 + int(m[1]), int(m[2]), int(m[3])
    elif m := _MDY.fullmatch(value):
        year, month, day = int(m[3]), int(m[1]), int(m[2])
    else:
        raise BadRow(f"sale date {value!r} is not a date")
    try:
        date(year, month, day)
    except ValueError:
        raise BadRow(f"sale date {value!r} is not a date") from None
    return date(year, month, 1)


_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_PLAIN = re.compile(r"-?\d{1,16}(?:\.\d{1,12})?")  # most amounts: read at once


def _number(value: str, name: str) -> Decimal:
    text = value.replace("\u00a0", "").replace(" ", "")
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1]
    for _ in range(2):  # "-$1.00", "$-1.00"
        if text[:1] in "$€£":
            text = text[1:]
        if text[:1] in "-+":
            negative ^= text[0] == "-"
            text = text[1:]
    if text.endswith("-"):
        negative, text = not negative, text[:-1]
    text = text.replace(",", "")
    if not _NUMBER.fullmatch(text):
        raise BadRow(f"{name} {value!r} is not a number")
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise BadRow(f"{name} {value!r} is not a number") from None
    return -number if negative else number


def parse_amount(value: str) -> Decimal:
    """An exact amount: never a float, at most 12 decimal places, none silently rounded."""
    if _PLAIN.fullmatch(value):
        return Decimal(value)
    if not value:
        raise BadRow("amount is empty")
    amount = _number(value, "amount")
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)  # noqa: S101 - _NUMBER admits finite numbers only
    if exponent < -MAX_DECIMALS:
        exact = amount.quantize(Decimal(1).scaleb(-MAX_DECIMALS))
        if exact != amount:
            raise BadRow(f"amount {value!r} has more than {MAX_DECIMALS} decimal places")
        amount = exact
    if abs(amount) >= Decimal(10) ** MAX_INTEGER_DIGITS:
        raise BadRow(f"amount {value!r} is too large")
    return amount


def parse_quantity(value: str) -> int:
    if value.isdigit():
        return int(value)
    if not value:
        return 0
    number = _number(value, "quantity")
    if number != number.to_integral_value() or abs(number) >= 2**62:
        raise BadRow(f"quantity {value!r} is not a whole number")
    return int(number)
