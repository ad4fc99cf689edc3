"""Schedules' slots: whole multiples of an interval since the epoch, or a cron expression's
moments in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from workers.core.periodic import Schedule

NOON = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_an_interval_slot_is_the_last_whole_multiple_of_it_since_the_epoch() -> None:
    hourly = Schedule("x", every_s=3600)

    assert hourly.latest_slot(NOON + timedelta(minutes=59, seconds=59)) == NOON
    assert hourly.latest_slot(NOON) == NOON
    assert hourly.next_slot(NOON) == NOON + timedelta(hours=1)
    assert hourly.next_slot(NOON - timedelta(microseconds=1)) == NOON


def test_a_cron_slot_is_read_in_utc_whatever_the_zone_of_the_clock() -> None:
    six_am = Schedule("x", cron="0 6 * * *")
    paris_afternoon = datetime(2026, 12, 6, 15, 30, tzinfo=timezone(timedelta(hours=1)))

    assert six_am.latest_slot(paris_afternoon) == datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
    assert six_am.next_slot(paris_afternoon) == datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


def test_a_cron_slot_includes_the_moment_itself_and_not_the_next_one() -> None:
    every_5 = Schedule("x", cron="*/5 * * * *")
    at = datetime(2026, 12, 6, 14, 5, tzinfo=UTC)

    assert every_5.latest_slot(at) == at
    assert every_5.latest_slot(at + timedelta(minutes=4, seconds=59)) == at
    assert every_5.next_slot(at) == at + timedelta(minutes=5)


@pytest.mark.parametrize(
    "every_s, cron, error",
    [
        (None, None, "give every_s or cron"),
        (60, "* * * * *", "give every_s or cron"),
        (0, None, "at least 1"),
        (None, "61 * * * *", "bad cron"),
        (None, "every day", "needs five fields"),
        (None, "*/10 * * * * *", "needs five fields"),  # a seconds field: slots are minutes
    ],
)
def test_a_schedule_that_cannot_be_read_is_refused_when_declared(
    every_s: int | None, cron: str | None, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        Schedule("x", every_s=every_s, cron=cron)
