"""Statements without a database: the period rules, and the CSV streamed to storage a batch
at a time."""

from __future__ import annotations

from datetime import date

import pytest

from models.core.errors import InvalidInput
from models.revenue.statements import check_period, csv_chunks, month_of
from workers.revenue.statements import ChunkReader


def test_a_period_is_whole_months_in_order_and_all_of_them_over() -> None:
    today = date(2026, 1, 15)
    check_period(date(2025, 1, 1), date(2025, 12, 1), today=today)  # December is over
    for first, last, message in (
        (date(2025, 6, 1), date(2025, 5, 1), "after it ends"),
        (date(2025, 6, 1), date(2026, 1, 1), "the last one is 2025-12"),
        (date(1969, 12, 1), date(2025, 1, 1), "1970"),
    ):
        with pytest.raises(InvalidInput, match=message):
            check_period(first, last, today=today)
    assert month_of("2024-02", "from") == date(2024, 2, 1)
    for bad in ("2024-13", "2024-2", "24-02", "February"):
        with pytest.raises(InvalidInput) as raised:
            month_of(bad, "to")
        assert raised.value.details == {"fields": {"to": ["not a month"]}}


def test_the_csv_reaches_storage_in_bounded_chunks_with_every_line_in_order() -> None:
    rows = ((f"USD,{n}", "2024-01", n, "0.100000000000") for n in range(10_000))
    chunks = csv_chunks(rows, every=100)
    reader = ChunkReader(chunks)
    parts = []
    while part := reader.read(4096):
        assert len(part) <= 4096
        assert len(reader._buffer) < 4096 + 100 * 64  # one batch of lines at most
        parts.append(part)
    text = b"".join(parts).decode()
    lines = text.split("\n")
    assert lines[0] == "currency,month,store,country,isrc,title,quantity,amount,lines"
    assert lines[1] == '"USD,0",2024-01,0,0.100000000000'  # quoted as CSV needs
    assert lines[-2] == '"USD,9999",2024-01,9999,0.100000000000'
    assert lines[-1] == ""
    assert len(lines) == 10_002
