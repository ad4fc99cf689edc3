"""Fan imports from CSV: an upload, a column mapping checked against a preview, then one job
that loads every row or none.

The file is kept in storage (workers/core/storage.py) under a key of our own making. Rows are
checked one by one; addresses repeated in the file and addresses already on the list are
skipped and counted, not errors. A single bad row fails the import with every row error
listed (up to MAX_REPORTED_ERRORS) and nothing is written: the load runs in one transaction,
COPY into a temporary table and one INSERT … ON CONFLICT DO NOTHING from it.
"""

from __future__ import annotations

import codecs
import csv
import enum
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from typing import IO, Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, select, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.core.addresses import normalise_email
from models.core.base import Base, now_ts, uuid_pk
from models.core.errors import Conflict, InvalidInput, NotFound
from models.fans.fans import FAN_FIELDS, FanStatus, Gender

PREVIEW_ROWS = 5
MAX_COLUMNS = 100
MAX_FIELD_CHARS = 10_000
MAX_REPORTED_ERRORS = 100
_GENDERS = {
    "f": Gender.FEMALE, "female": Gender.FEMALE, "woman": Gender.FEMALE,
    "m": Gender.MALE, "male": Gender.MALE, "man": Gender.MALE,
    "non_binary": Gender.NON_BINARY, "non-binary": Gender.NON_BINARY,
    "nonbinary": Gender.NON_BINARY, "nb": Gender.NON_BINARY,
    "undisclosed": Gender.UNDISCLOSED, "prefer not to say": Gender.UNDISCLOSED,
}  # fmt: skip
_TRUE = {"1", "true", "yes", "y", "x"}
_FALSE = {"", "0", "false", "no", "n"}


class ImportStatus(enum.StrEnum):
    UPLOADED = "uploaded"  # waiting for its mapping
    QUEUED = "queued"
    IMPORTED = "imported"
    FAILED = "failed"


class FanImport(Base):
    """One uploaded CSV of fans, its mapping and its outcome."""

    __tablename__ = "fan_imports"
    __table_args__ = (
        Index("ix_fan_imports_org_id_created_at", "org_id", "created_at"),
        CheckConstraint("status IN ('uploaded', 'queued', 'imported', 'failed')", name="status"),
    )

    id: Mapped[uuid_pk]
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    storage_key: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(300))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    columns: Mapped[list[str]] = mapped_column(JSONB)
    preview: Mapped[list[dict[str, str]]] = mapped_column(JSONB)
    mapping: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), server_default=ImportStatus.UPLOADED.value)
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[now_ts]


# -- reading the file ------------------------------------------------------------------------
def csv_rows(source: IO[bytes]) -> Iterator[list[str]]:
    """The file's rows, decoded as UTF-8 (a byte-order mark ignored); InvalidInput otherwise."""
    reader = csv.reader(codecs.getreader("utf-8-sig")(source), strict=False)  # type: ignore[arg-type]
    csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        yield from reader
    except UnicodeDecodeError:
        raise InvalidInput(
            "the file is not UTF-8 text: save it as CSV UTF-8",
            details={"fields": {"file": ["not UTF-8"]}},
        ) from None
    except csv.Error as error:
        raise InvalidInput(
            f"the file is not a readable CSV (line {reader.line_num}: {error})",
            details={"fields": {"file": ["not CSV"]}},
        ) from None


def header_and_preview(source: IO[bytes]) -> tuple[list[str], list[dict[str, str]]]:
    """The header row and the first PREVIEW_ROWS rows as header → value."""
    rows = csv_rows(source)
    header = [name.strip() for name in next(rows, [])]
    if not any(header):
        raise InvalidInput("the file is empty", details={"fields": {"file": ["empty"]}})
    if len(header) > MAX_COLUMNS or len(set(header)) != len(header) or "" in header:
        raise InvalidInput(
            f"the first row must name each column once (at most {MAX_COLUMNS}, none blank)",
            details={"fields": {"file": ["bad header"]}},
        )
    preview = []
    for row in rows:
        preview.append(dict(zip(header, row, strict=False)))
        if len(preview) == PREVIEW_ROWS:
            break
    return header, preview


def suggested_mapping(columns: list[str]) -> dict[str, str]:
    """Fan field → column, for columns named like a field ("E-mail" → email)."""
    squashed = {column.lower().replace("-", "").replace(" ", "_"): column for column in columns}
    aliases = {"email": ("email", "e_mail", "mail"), "phone": ("phone", "phone_number")}
    found = {}
    for field in FAN_FIELDS:
        for alias in aliases.get(field, (field,)):
            if alias in squashed:
                found[field] = squashed[alias]
                break
    return found


# -- the import's records --------------------------------------------------------------------
def record_upload(
    *,
    session: Session,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    import_id: uuid.UUID,
    storage_key: str,
    filename: str,
    size_bytes: int,
    columns: list[str],
    preview: list[dict[str, str]],
) -> FanImport:
    upload = FanImport(
        id=import_id,
        org_id=org_id,
        created_by=user_id,
        storage_key=storage_key,
        filename=filename[:300],
        size_bytes=size_bytes,
        columns=columns,
        preview=preview,
        mapping=suggested_mapping(columns),
    )
    session.add(upload)
    session.flush()
    return upload


def get_import(*, session: Session, org_id: uuid.UUID, import_id: uuid.UUID) -> FanImport:
    found = session.scalar(
        select(FanImport).where(FanImport.id == import_id, FanImport.org_id == org_id)
    )
    if found is None:
        raise NotFound("no fan import with this id", details={"import_id": str(import_id)})
    return found


def lock_import(*, session: Session, org_id: uuid.UUID, import_id: uuid.UUID) -> FanImport:
    found = session.scalar(
        select(FanImport)
        .where(FanImport.id == import_id, FanImport.org_id == org_id)
        .with_for_update()
    )
    if found is None:
        raise NotFound("no fan import with this id", details={"import_id": str(import_id)})
    return found


def set_mapping(
    *, session: Session, org_id: uuid.UUID, import_id: uuid.UUID, mapping: dict[str, str]
) -> FanImport:
    """Check the mapping (field → column) and mark the import queued; it starts once."""
    upload = lock_import(session=session, org_id=org_id, import_id=import_id)
    if upload.status != ImportStatus.UPLOADED:
        raise Conflict(
            f"this import was started already (it is {upload.status})",
            details={"status": upload.status, "job_id": str(upload.job_id)},
        )
    problems: dict[str, list[str]] = {}
    for field, column in mapping.items():
        if field not in FAN_FIELDS:
            problems[field] = [f"not a fan field; one of {', '.join(FAN_FIELDS)}"]
        elif column not in upload.columns:
            problems[field] = [f"the file has no column {column!r}"]
    if "email" not in mapping:
        problems["email"] = ["map a column to email: it identifies each fan"]
    if problems:
        raise InvalidInput("the mapping does not fit the file", details={"fields": problems})
    upload.mapping = mapping
    upload.status = ImportStatus.QUEUED
    return upload


# -- checking rows ---------------------------------------------------------------------------
def _text(value: str, limit: int) -> str | None:
    value = value.strip()
    if len(value) > limit:
        raise ValueError(f"longer than {limit} characters")
    return value or None


def _int(value: str, low: int, high: int) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise ValueError(f"must be a whole number from {low} to {high}")
    return int(value)


def _country(value: str) -> str | None:
    value = value.strip().upper()
    if value and (len(value) != 2 or not value.isascii() or not value.isalpha()):
        raise ValueError("must be a two-letter country code (ISO 3166-1: US, FR, NG)")
    return value or None


def _gender(value: str) -> str | None:
    value = value.strip().lower()
    if not value:
        return None
    if value not in _GENDERS:
        raise ValueError("must be female, male, non_binary or undisclosed")
    return _GENDERS[value].value


def _status(value: str) -> str:
    value = value.strip().lower() or FanStatus.FREE.value
    if value not in set(FanStatus):
        raise ValueError("must be free or paid")
    return value


def _consent(value: str) -> bool:
    value = value.strip().lower()
    if value not in _TRUE | _FALSE:
        raise ValueError("must be yes or no")
    return value in _TRUE


def _tags(value: str) -> list[str]:
    tags = sorted({tag.strip() for tag in value.replace(",", ";").split(";") if tag.strip()})
    if any(len(tag) > 50 for tag in tags) or len(tags) > 20:
        raise ValueError("at most 20 tags of at most 50 characters, separated by ;")
    return tags


# An everyday address: a dot-atom before the @, letters-digits-hyphens labels after it and a
# TLD of letters. normalise_email's answer for these is the address lower-cased, so an import
# takes it as is; anything else (IDNA, quoted parts, a special-use TLD, a doubtful hyphen)
# goes through normalise_email itself, which also words the error. It is 8× faster, which is
# most of an import's time on a large file.
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PLAIN_EMAIL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[a-z]{{2,63}}")
_SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")


def plain_email(value: str) -> str | None:
    """The canonical form of an everyday address, or None to let normalise_email decide."""
    address = value.strip().lower()
    local, _, domain = address.partition("@")
    if (
        len(address) > 254
        or len(local) > 64
        or "--" in domain
        or not _PLAIN_EMAIL.fullmatch(address)
        or domain.rsplit(".", 1)[-1] in _SPECIAL_USE
    ):
        return None
    return address


def _email(value: str) -> str:
    if plain := plain_email(value):
        return plain
    try:
        return normalise_email(value)
    except InvalidInput as error:
        raise ValueError(error.message) from None


_CLEANERS: dict[str, Callable[[str], Any]] = {
    "name": lambda v: _text(v, 200),
    "email": _email,
    "phone": lambda v: _text(v, 40),
    "country": _country,
    "gender": _gender,
    "age": lambda v: _int(v, 1, 130),
    "birth_year": lambda v: _int(v, 1880, date.today().year),
    "status": _status,
    "source": lambda v: _text(v, 50),
    "tags": _tags,
    "consent": _consent,
}


def clean_row(row: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """A fan's values from a row (field → raw text), and the errors by field."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field, raw in row.items():
        if "\x00" in raw:
            errors[field] = "contains a NUL character"
            continue
        try:
            values[field] = _CLEANERS[field](raw)
        except ValueError as error:
            errors[field] = str(error)
    return values, errors


# -- loading ---------------------------------------------------------------------------------
_COPY_COLUMNS = (
    "name", "email", "phone", "country", "gender", "age", "birth_year", "status", "source",
    "tags", "consent",
)  # fmt: skip


def load_fans(*, session: Session, org_id: uuid.UUID, rows: list[dict[str, Any]]) -> int:
    """Insert the rows as the organisation's fans in the caller's transaction, skipping
    addresses already on the list; how many were added."""
    session.execute(
        text(
            "CREATE TEMPORARY TABLE fan_import_rows ("
            " name text, email text, phone text, country text, gender text, age smallint,"
            " birth_year smallint, status text, source text, tags text[], consent boolean"
            ") ON COMMIT DROP"
        )
    )
    raw = session.connection().connection.dbapi_connection
    assert raw is not None  # noqa: S101 - a live connection inside the transaction
    statement = f"COPY fan_import_rows ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[attr-defined]
        for row in rows:
            copy.write_row([row.get(c) for c in _COPY_COLUMNS])
    added = session.execute(
        text(
            "INSERT INTO fans (org_id, name, email, phone, country, gender, age, birth_year,"
            " status, source, tags, consent, consent_at)"
            " SELECT :org_id, name, email, phone, country, gender, age, birth_year,"
            " coalesce(status, 'free'), coalesce(source, 'import'), coalesce(tags, '{}'),"
            " coalesce(consent, false), CASE WHEN consent THEN now() END FROM fan_import_rows"
            " ON CONFLICT ON CONSTRAINT uq_fans_org_id_email DO NOTHING"
        ),
        {"org_id": org_id},
    )
    return int(added.rowcount)  # type: ignore[attr-defined]


def read_rows(
    source: IO[bytes], mapping: dict[str, str], progress: Callable[[int], None]
) -> tuple[list[dict[str, Any]], int]:
    """The file's fans (first occurrence of each address) and how many rows repeated an
    address met earlier in the file; RowErrors listing the bad rows if any (row numbers count
    the header as row 1)."""
    rows = csv_rows(source)
    header = [name.strip() for name in next(rows, [])]
    position = {field: header.index(column) for field, column in mapping.items()}
    fans: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    error_count = 0
    seen: set[str] = set()
    repeated = 0
    for number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        mapped = {f: (row[i] if i < len(row) else "") for f, i in position.items()}
        values, problems = clean_row(mapped)
        if problems:
            error_count += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append({"row": number, "errors": problems})
        elif values["email"] in seen:
            repeated += 1
        else:
            seen.add(values["email"])
            values["source"] = values.get("source") or "import"
            fans.append(values)
        if number % 1000 == 0:
            progress(number - 1)
    if error_count:
        raise RowErrors(errors, error_count)
    return fans, repeated


class RowErrors(InvalidInput):
    """Rows of the file that cannot be fans; nothing was imported."""

    def __init__(self, errors: list[dict[str, Any]], count: int) -> None:
        super().__init__(
            f"{count} row{'s' if count != 1 else ''} could not be read; nothing was imported",
            details={"row_errors": errors, "error_count": count},
        )


def remember_result(
    *, session: Session, org_id: uuid.UUID, import_id: uuid.UUID, status: str, result: dict
) -> None:
    upload = lock_import(session=session, org_id=org_id, import_id=import_id)
    upload.status = status
    upload.result = result
