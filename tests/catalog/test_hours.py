"""Opening hours: parsing both syntaxes, open-now across midnight, DST and exceptions."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from o2o.catalog.hours import (
    DAYS,
    OpeningHours,
    format_compact,
    hours_on,
    is_open,
    next_change,
    parse_exceptions,
    parse_weekly,
    today_text,
)
from o2o.errors import ValidationError

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
BAR = "Mo-Th 10:00-22:00; Fr 18:00-02:00"


def sh(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


def test_compact_examples_parse_to_json() -> None:
    week = parse_weekly("Mo-Fr 07:00-22:00; Sa,Su 08:00-23:30")
    assert week["mon"] == week["fri"] == [["07:00", "22:00"]]
    assert week["sat"] == week["sun"] == [["08:00", "23:30"]]
    assert parse_weekly("24/7") == parse_weekly("Mo-Su 00:00-24:00") == \
        {d: [["00:00", "24:00"]] for d in DAYS}
    split = parse_weekly("Mo-Th 10:00-14:00,17:00-22:00")
    assert split["wed"] == [["10:00", "14:00"], ["17:00", "22:00"]] and split["fri"] == []
    assert parse_weekly("Fr 18:00-02:00")["fri"] == [["18:00", "02:00"]]


def test_compact_later_rules_override_and_ranges_wrap() -> None:
    week = parse_weekly("Mo-Su 08:00-22:00; Su off; Fr-Mo 9:00 – 17:00")
    assert week["tue"] == [["08:00", "22:00"]]
    assert week["fri"] == week["sat"] == week["sun"] == week["mon"] == [["09:00", "17:00"]]


def test_format_round_trips() -> None:
    for text in ("Mo-Fr 07:00-22:00; Sa,Su 08:00-23:30", "24/7", "Fr 18:00-02:00",
                 "Mo-Th 10:00-14:00,17:00-22:00", "Mo-Su off"):
        assert format_compact(parse_weekly(text)) == text


@pytest.mark.parametrize(("text", "fragment"), [
    ("Mo-Fx 07:00-22:00", "unknown day 'Fx'"),
    ("PH off", "exceptions column"),
    ("Mo 07:00", "times look like 07:00-22:00"),
    ("Mo 24:00-26:00", "only allowed as a closing time"),
    ("Mo 07:00-07:00", "00:00-24:00 for a whole day"),
    ("Mo 07:00-12:00,11:00-13:00", "overlap"),
    ("Mo 7:60-9:00", "not a valid time"),
    ("", "empty"),
    ("sunrise-sunset", "cannot read"),
])
def test_compact_rejects_with_clear_message(text: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_weekly(text)
    assert fragment in err.value.message
    assert err.value.details[0]["field"].startswith("hours")


def test_json_form_is_validated_and_normalised() -> None:
    week = parse_weekly({"MON": [["7:00", "22:00"]], "sat": []})
    assert week["mon"] == [["07:00", "22:00"]] and week["tue"] == [] and len(week) == 7
    assert parse_weekly('{"sun": [["22:00", "24:00"]]}')["sun"] == [["22:00", "24:00"]]
    with pytest.raises(ValidationError, match="unknown day 'monday'"):
        parse_weekly({"monday": []})
    with pytest.raises(ValidationError, match="pair"):
        parse_weekly({"mon": [["07:00"]]})
    with pytest.raises(ValidationError, match="more than 24 h"):
        parse_weekly({"mon": [["08:00", "12:00"], ["20:00", "09:00"]]})


def test_exceptions_are_validated_and_sorted() -> None:
    exc = parse_exceptions('{"2026-12-24": [["10:00","18:00"]], "2026-10-01": []}')
    assert list(exc) == ["2026-10-01", "2026-12-24"]
    assert exc["2026-10-01"] == []
    assert parse_exceptions(None) == parse_exceptions("") == {}
    with pytest.raises(ValidationError, match="not a date"):
        parse_exceptions({"10/01/2026": []})


def test_overnight_interval_counts_the_next_morning() -> None:
    hours = OpeningHours.compile(BAR, None, "Asia/Shanghai")
    assert hours.is_open(sh(2026, 11, 27, 23))  # Friday night
    assert hours.is_open(sh(2026, 11, 28, 1, 59))  # Saturday, still Friday's shift
    assert not hours.is_open(sh(2026, 11, 28, 2, 0))
    assert not hours.is_open(sh(2026, 11, 27, 17, 59))
    assert hours.is_open(sh(2026, 11, 26, 21, 59)) and not hours.is_open(sh(2026, 11, 26, 22))


def test_sunday_overnight_wraps_into_monday() -> None:
    hours = OpeningHours.compile("Su 20:00-03:00", None, "Asia/Shanghai")
    assert hours.is_open(sh(2026, 11, 30, 2, 30))  # Monday 02:30
    assert not hours.is_open(sh(2026, 11, 30, 3, 0))


def test_instant_is_read_in_the_outlet_zone() -> None:
    hours = OpeningHours.compile("Mo-Fr 09:00-17:00", None, "Asia/Shanghai")
    monday_10_shanghai = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert hours.is_open(monday_10_shanghai)
    assert not hours.is_open(monday_10_shanghai, "Europe/London")  # 02:00 there


def test_wall_clock_hours_survive_dst() -> None:
    hours = OpeningHours.compile("Mo-Su 07:00-22:00", None, "America/New_York")
    # 2026-03-08 is the spring-forward Sunday; 07:00 local is 11:00 UTC, not 12:00.
    assert hours.is_open(datetime(2026, 3, 8, 11, 0, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 3, 8, 10, 59, tzinfo=UTC))
    assert hours.is_open(datetime(2026, 3, 7, 12, 0, tzinfo=UTC))  # 07:00 EST the day before
    assert not hours.is_open(datetime(2026, 3, 7, 11, 59, tzinfo=UTC))


def test_exception_replaces_its_day_but_not_yesterdays_spill() -> None:
    hours = OpeningHours.compile(BAR, {"2026-11-28": [], "2026-11-26": [["12:00", "14:00"]]},
                                 "Asia/Shanghai")
    assert hours.is_open(sh(2026, 11, 28, 1))  # Friday's shift still runs (documented)
    assert not hours.is_open(sh(2026, 11, 28, 12))
    assert hours.is_open(sh(2026, 11, 26, 13)) and not hours.is_open(sh(2026, 11, 26, 15))
    closed_friday = OpeningHours.compile(BAR, {"2026-11-27": []}, "Asia/Shanghai")
    assert not closed_friday.is_open(sh(2026, 11, 28, 1))
    late = OpeningHours.compile("Mo-Su 08:00-20:00", {"2026-12-31": [["08:00", "03:00"]]},
                                "Asia/Shanghai")
    assert late.is_open(sh(2027, 1, 1, 2, 59)) and not late.is_open(sh(2027, 1, 1, 3))


def test_hours_on_applies_exceptions() -> None:
    weekly = parse_weekly(BAR)
    assert hours_on(weekly, None, date(2026, 11, 27)) == [(time(18), time(2))]
    assert hours_on(weekly, {"2026-11-27": []}, date(2026, 11, 27)) == []
    assert hours_on(weekly, None, date(2026, 11, 29)) == []


def test_today_text() -> None:
    assert today_text("Mo-Fr 07:00-22:00", None, "Asia/Shanghai", sh(2026, 11, 23, 9)) == \
        "今日 07:00–22:00"
    assert today_text("Mo-Fr 07:00-22:00", None, "Asia/Shanghai", sh(2026, 11, 22, 9)) == \
        "今日休息"
    assert today_text("24/7", None, "Asia/Shanghai", sh(2026, 11, 22, 9)) == "24 小时营业"
    assert today_text("24/7", {"2026-11-23": []}, "Asia/Shanghai", sh(2026, 11, 22, 9)) == \
        "今日 24 小时营业"
    assert today_text(BAR, None, "Asia/Shanghai", sh(2026, 11, 27, 9)) == "今日 18:00–次日02:00"
    assert today_text(BAR, None, "Asia/Shanghai", sh(2026, 11, 28, 1)) == "营业至 02:00；今日休息"
    assert today_text("Mo 10:00-14:00,17:00-24:00", None, "Asia/Shanghai",
                      sh(2026, 11, 23, 9)) == "今日 10:00–14:00, 17:00–24:00"


def test_next_change() -> None:
    bar = OpeningHours.compile(BAR, None, "Asia/Shanghai")
    change = next_change(BAR, None, "Asia/Shanghai", sh(2026, 11, 27, 23))
    assert change is not None and change.at == sh(2026, 11, 28, 2) and change.opens is False
    change = bar.next_change(sh(2026, 11, 28, 3))
    assert change is not None and change.at == sh(2026, 11, 30, 10) and change.opens is True
    assert bar.next_change_text(sh(2026, 11, 30, 8)) == "10:00 开门"
    assert bar.next_change_text(sh(2026, 11, 30, 12)) == "22:00 打烊"
    assert bar.next_change_text(sh(2026, 11, 29, 12)) == "明天 10:00 开门"
    assert bar.next_change_text(sh(2026, 11, 28, 12)) == "周一 10:00 开门"
    always = OpeningHours.compile("24/7", None, "Asia/Shanghai")
    assert always.next_change(sh(2026, 11, 28, 12)) is None
    never = OpeningHours.compile({}, None, "Asia/Shanghai")
    assert never.next_change(sh(2026, 11, 28, 12)) is None and never.next_change_text(
        sh(2026, 11, 28, 12)) == ""
    # Two days that meet at midnight are one span: Mo 00:00-24:00 and Tu 00:00-06:00.
    joined = OpeningHours.compile("Mo 00:00-24:00; Tu 00:00-06:00", None, "Asia/Shanghai")
    change = joined.next_change(sh(2026, 11, 23, 12))
    assert change is not None and change.at == sh(2026, 11, 24, 6)


def test_bad_zone_and_naive_datetime() -> None:
    with pytest.raises(ValidationError, match="IANA"):
        OpeningHours.compile("24/7", None, "Asia/Peking")
    with pytest.raises(ValueError, match="aware"):
        OpeningHours.compile("24/7", None, "UTC").is_open(datetime(2026, 1, 1))


_times = st.integers(0, 47).map(lambda h: f"{h // 2:02d}:{30 * (h % 2):02d}")
_weekly = st.dictionaries(st.sampled_from(DAYS), st.lists(st.tuples(_times, _times), max_size=3))


def _try(weekly: dict) -> dict | None:
    try:
        return parse_weekly({d: [list(p) for p in spans] for d, spans in weekly.items()})
    except ValidationError:
        return None


@given(_weekly, st.integers(0, 7 * 24 * 60 - 1))
def test_compiled_bitmap_matches_the_definition(weekly: dict, minute: int) -> None:
    """Open at minute m iff an interval of that day, or yesterday's spill, covers it."""
    week = _try(weekly)
    if week is None:
        return
    assert parse_weekly(format_compact(week)) == week
    day, m = divmod(minute, 1440)
    at = datetime(2026, 11, 23 + day, m // 60, m % 60, tzinfo=SH)  # 23 Nov 2026 is a Monday

    def spans(i: int) -> list[tuple[int, int]]:
        out = []
        for s, e in week[DAYS[i % 7]]:
            a, b = int(s[:2]) * 60 + int(s[3:]), int(e[:2]) * 60 + int(e[3:])
            out.append((a, b if b > a else b + 1440))
        return out

    expected = any(a <= m < b for a, b in spans(day)) or \
        any(a <= m + 1440 < b for a, b in spans(day - 1))
    assert OpeningHours.compile(week, None, "Asia/Shanghai").is_open(at) is expected
    assert is_open(week, {}, "Asia/Shanghai", at) is expected


def test_equal_timetables_share_one_compiled_object() -> None:
    a = OpeningHours.compile("Mo-Fr 07:00-22:00", {"2026-10-01": []}, "Asia/Shanghai")
    b = OpeningHours.compile(parse_weekly("Mo-Fr 07:00-22:00"), {"2026-10-01": []},
                             "Asia/Shanghai")
    assert OpeningHours.compile("Mo-Fr 07:00-22:00", {"2026-10-01": []}, "Asia/Shanghai") is a
    assert b.weekly == a.weekly and not b.is_open(sh(2026, 10, 1, 12))
    assert OpeningHours.compile("Mo-Fr 07:00-22:00", None, "Europe/Paris").tz == "Europe/Paris"
