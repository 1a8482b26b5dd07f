"""Promotion schedules: validity, weekdays, daily windows (overnight too), zones, wording."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from o2o.catalog.schedule import Schedule, describe, is_active, parse_hhmm, parse_schedule
from o2o.errors import ValidationError

SH = ZoneInfo("Asia/Shanghai")


def sh(d: int, h: int, mi: int = 0) -> datetime:
    """A moment in November 2026 in Shanghai (the 23rd is a Monday)."""
    return datetime(2026, 11, d, h, mi, tzinfo=SH)


BREAKFAST = Schedule(weekdays=frozenset({1, 2, 3, 4, 5}), daily_start=time(7),
                     daily_end=time(10))


def test_weekday_mornings() -> None:
    assert BREAKFAST.is_active(sh(23, 7), "Asia/Shanghai")
    assert BREAKFAST.is_active(sh(27, 9, 59), "Asia/Shanghai")
    assert not BREAKFAST.is_active(sh(23, 10), "Asia/Shanghai")
    assert not BREAKFAST.is_active(sh(23, 6, 59), "Asia/Shanghai")
    assert not BREAKFAST.is_active(sh(28, 8), "Asia/Shanghai")  # Saturday


def test_empty_schedule_is_always_active() -> None:
    assert Schedule().is_active(sh(22, 3), "Asia/Shanghai")
    assert is_active(Schedule(), datetime(2000, 1, 1, tzinfo=UTC), "UTC")


def test_validity_window_is_absolute_and_half_open() -> None:
    s = Schedule(valid_from=sh(1, 0), valid_until=sh(30, 0))
    assert not s.is_active(sh(1, 0) - timedelta(seconds=1), "Asia/Shanghai")
    assert s.is_active(sh(1, 0), "Asia/Shanghai")
    assert s.is_active(datetime(2026, 11, 29, 15, 59, tzinfo=UTC), "Asia/Shanghai")
    assert not s.is_active(datetime(2026, 11, 29, 16, 0, tzinfo=UTC), "Asia/Shanghai")


def test_overnight_window_belongs_to_the_start_day() -> None:
    late_friday = Schedule(weekdays=frozenset({5}), daily_start=time(22), daily_end=time(2))
    assert late_friday.is_active(sh(27, 23), "Asia/Shanghai")
    assert late_friday.is_active(sh(28, 1, 59), "Asia/Shanghai")  # Saturday morning
    assert not late_friday.is_active(sh(28, 2), "Asia/Shanghai")
    assert not late_friday.is_active(sh(27, 1), "Asia/Shanghai")  # Thursday's night
    assert not late_friday.is_active(sh(28, 23), "Asia/Shanghai")


def test_one_sided_windows_run_to_or_from_midnight() -> None:
    evening = Schedule(daily_start=time(18))
    assert evening.is_active(sh(23, 23, 59), "Asia/Shanghai")
    assert not evening.is_active(sh(24, 0, 30), "Asia/Shanghai")
    to_midnight = Schedule(daily_start=time(18), daily_end=parse_hhmm("24:00"))
    assert to_midnight.is_active(sh(23, 23, 59), "Asia/Shanghai")
    assert not to_midnight.is_active(sh(24, 0, 0), "Asia/Shanghai")
    morning = Schedule(daily_end=time(11))
    assert morning.is_active(sh(23, 0, 0), "Asia/Shanghai")
    assert not morning.is_active(sh(23, 11, 0), "Asia/Shanghai")


def test_zone_own_or_outlet_fallback() -> None:
    at = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai, 00:30 in London
    assert BREAKFAST.is_active(at, "Asia/Shanghai")
    assert not BREAKFAST.is_active(at, "Europe/London")
    pinned = Schedule(weekdays=BREAKFAST.weekdays, daily_start=time(7), daily_end=time(10),
                      timezone="Asia/Shanghai")
    assert pinned.is_active(at, "Europe/London")


@pytest.mark.parametrize(("kwargs", "field", "fragment"), [
    ({"valid_from": sh(2, 0), "valid_until": sh(1, 0)}, "valid_until", "after valid_from"),
    ({"valid_from": datetime(2026, 1, 1)}, "valid_from", "UTC offset"),
    ({"weekdays": frozenset({0, 1})}, "weekdays", "ISO weekday"),
    ({"weekdays": frozenset({8})}, "weekdays", "ISO weekday"),
    ({"timezone": "Mars/Olympus"}, "timezone", "IANA"),
    ({"daily_start": time(9), "daily_end": time(9)}, "daily_end", "whole day"),
])
def test_validation(kwargs: dict, field: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        Schedule(**kwargs)
    assert fragment in err.value.message
    assert err.value.details[0]["field"] == field


def test_parse_hhmm() -> None:
    assert parse_hhmm("7:05") == time(7, 5)
    assert parse_hhmm("24:00") == time(0, 0)
    for bad in ("25:00", "07:60", "0700", "7h"):
        with pytest.raises(ValidationError, match="not a time"):
            parse_hhmm(bad)


def test_parse_schedule_from_json_fields() -> None:
    s = parse_schedule({"valid_from": "2025-01-01T00:00:00+08:00",
                        "valid_until": "2030-12-31T23:59:59+08:00", "weekdays": [6, 7],
                        "daily_start": "14:00", "daily_end": "17:00", "timezone": None})
    assert s.weekdays == frozenset({6, 7}) and s.daily_start == time(14)
    assert s.valid_from == datetime(2024, 12, 31, 16, tzinfo=UTC)
    assert s.is_active(sh(28, 15), "Asia/Shanghai")
    with pytest.raises(ValidationError, match="ISO 8601"):
        parse_schedule({"valid_from": "next monday"})


def test_describe() -> None:
    assert BREAKFAST.describe() == "周一至周五 07:00–10:00"
    assert describe(Schedule(weekdays=frozenset({6, 7}), daily_start=time(14),
                             daily_end=time(17))) == "周六、周日 14:00–17:00"
    assert describe(Schedule()) == "每天"
    assert describe(Schedule(daily_start=time(22), daily_end=time(2))) == "每天 22:00–次日02:00"
    assert describe(Schedule(weekdays=frozenset({1, 3, 5}))) == "周一、周三、周五"
    assert describe(Schedule(daily_start=time(18))) == "每天 18:00–24:00"
