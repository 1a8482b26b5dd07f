"""One-tap dated exceptions: close early, special hours, drop one."""

from __future__ import annotations

from datetime import date

import pytest

from o2o.catalog.day_exceptions import close_early, drop_exception, special_hours
from o2o.catalog.hours_syntax import parse_compact
from o2o.errors import ValidationError

WEEK = parse_compact("Mo-Fr 07:00-22:00; Sa 10:00-14:00,17:00-02:00; Su off")
MON, SAT, SUN = date(2026, 12, 7), date(2026, 12, 12), date(2026, 12, 13)


def test_close_early_cuts_the_day_and_keeps_other_exceptions() -> None:
    out = close_early(WEEK, {"2026-12-25": []}, MON, "20:30")
    assert out == {"2026-12-07": [["07:00", "20:30"]], "2026-12-25": []}


def test_close_early_drops_spans_not_yet_begun_and_cuts_overnight_ones() -> None:
    assert close_early(WEEK, {}, SAT, "12:00") == {"2026-12-12": [["10:00", "12:00"]]}
    assert close_early(WEEK, {}, SAT, "23:00") == {
        "2026-12-12": [["10:00", "14:00"], ["17:00", "23:00"]]}


def test_close_early_before_opening_closes_the_day() -> None:
    assert close_early(WEEK, {}, MON, "06:00") == {"2026-12-07": []}


def test_close_early_on_a_closed_day_or_after_closing_is_refused() -> None:
    with pytest.raises(ValidationError, match="not open that day"):
        close_early(WEEK, {}, SUN, "20:00")
    with pytest.raises(ValidationError, match="closes by 23:00"):
        close_early(WEEK, {}, MON, "23:00")
    with pytest.raises(ValidationError, match="a time like 20:30"):
        close_early(WEEK, {}, MON, "8pm")


def test_special_hours_and_a_day_off() -> None:
    assert special_hours({}, SUN, "10:00-14:00,17:00-21:00") == {
        "2026-12-13": [["10:00", "14:00"], ["17:00", "21:00"]]}
    assert special_hours({}, MON, "休息") == {"2026-12-07": []}
    with pytest.raises(ValidationError, match="times only"):
        special_hours({}, MON, "Mo 10:00-12:00")
    with pytest.raises(ValidationError, match="cannot read"):
        special_hours({}, MON, "ten to six")


def test_drop_exception() -> None:
    assert drop_exception({"2026-12-07": [], "2026-12-08": []}, MON) == {"2026-12-08": []}
