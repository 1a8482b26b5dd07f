"""Every number of the funnel against the hand-computed known history (tests/factories_events)."""

from __future__ import annotations

from datetime import date

import pytest

from o2o.analytics.funnel import funnel
from o2o.analytics.rollup import roll_up
from o2o.errors import NotFound, PermissionDenied, ValidationError
from tests.factories_events import FROM, TO, known_history

STEPS = ("query", "impression", "click", "claim", "redemption", "visit")


def c(*values: int | None) -> dict[str, int | None]:
    return dict(zip(STEPS, values, strict=True))


@pytest.fixture(params=["tail", "cells", "raw"])
def how(request: pytest.FixtureRequest) -> str:
    """Each number is checked from raw events, from the un-rolled tail and from cells."""
    return request.param


@pytest.fixture
def history(session, how):  # type: ignore[no-untyped-def]
    h = known_history(session)
    if how == "cells":
        assert roll_up(session).events == 18
    return h


def run(session, how, **kw):  # type: ignore[no-untyped-def]
    return funnel(session, date_from=kw.pop("date_from", FROM), date_to=kw.pop("date_to", TO),
                  raw=how == "raw", **kw)


def test_region_totals_counts_uniques_and_rates(session, history, how) -> None:
    report = run(session, how, scope=frozenset({history.r1.id}))
    total = report.total
    assert total.counts == c(3, 3, 1, 1, 1, 3)
    assert total.uniques == c(2, 2, 1, 1, 1, 2)
    assert total.rates == {
        "impression_per_query": 1.0, "click_per_impression": 0.3333, "claim_per_click": 1.0,
        "redemption_per_claim": 1.0, "visit_per_click": 3.0, "visit_per_impression": 1.0,
        "visit_per_query": 1.0}
    assert total.unique_rates["click_per_impression"] == 0.5
    assert report.rows == []


def test_admin_sees_every_region_and_queries_without_one(session, history, how) -> None:
    total = run(session, how, scope=None).total
    assert total.counts == c(5, 4, 2, 1, 1, 3)
    assert total.uniques == c(3, 2, 1, 1, 1, 2)


def test_by_day_in_local_time(session, history, how) -> None:
    rows = {r.key: r for r in run(session, how, scope=frozenset({history.r1.id}),
                                  group_by="day").rows}
    assert list(rows) == [date(2025, 3, d) for d in range(3, 10)]
    assert rows[date(2025, 3, 3)].counts == c(1, 2, 1, 1, 1, 1)
    assert rows[date(2025, 3, 4)].counts == c(1, 1, 0, 0, 0, 1)
    assert rows[date(2025, 3, 5)].counts == c(1, 0, 0, 0, 0, 1)
    assert rows[date(2025, 3, 5)].uniques == c(0, 0, 0, 0, 0, 1)
    for d in range(6, 10):
        assert rows[date(2025, 3, d)].counts == c(0, 0, 0, 0, 0, 0)
    assert rows[date(2025, 3, 4)].rates["click_per_impression"] == 0.0
    assert rows[date(2025, 3, 6)].rates["click_per_impression"] is None


def test_weekday_hour_table(session, history, how) -> None:
    report = run(session, how, scope=frozenset({history.r1.id}), group_by="weekday_hour")
    assert len(report.rows) == 7 * 24
    cells = {r.key: r.counts for r in report.rows if any(report_values(r.counts))}
    assert cells == {
        (1, 7): c(0, 1, 0, 0, 0, 0),
        (1, 9): c(1, 1, 1, 1, 0, 0),
        (1, 18): c(0, 0, 0, 0, 1, 1),
        (2, 0): c(1, 1, 0, 0, 0, 0),
        (2, 10): c(0, 0, 0, 0, 0, 1),
        (3, 10): c(0, 0, 0, 0, 0, 1),
        (3, 12): c(1, 0, 0, 0, 0, 0),
    }


def report_values(counts: dict[str, int | None]) -> list[int]:
    return [v for v in counts.values() if v]


def test_by_hour_and_weekday(session, history, how) -> None:
    scope = frozenset({history.r1.id})
    hours = {r.key: r for r in run(session, how, scope=scope, group_by="hour").rows}
    assert hours[10].counts == c(0, 0, 0, 0, 0, 2)
    assert hours[10].uniques == c(0, 0, 0, 0, 0, 1)
    assert hours[19].counts == c(0, 0, 0, 0, 0, 0)  # the second proof of a day is no visit
    weekdays = {r.key: r for r in run(session, how, scope=scope, group_by="weekday").rows}
    assert weekdays[1].counts == c(1, 2, 1, 1, 1, 1)
    assert weekdays[1].label == "周一"
    assert weekdays[7].counts == c(0, 0, 0, 0, 0, 0)


def test_by_outlet_has_no_query_attribution(session, history, how) -> None:
    report = run(session, how, scope=frozenset({history.r1.id}), group_by="outlet")
    rows = {r.key: r for r in report.rows}
    assert set(rows) == {history.a.id, history.b.id}
    assert rows[history.a.id].counts == c(None, 2, 1, 1, 1, 3)
    assert rows[history.a.id].uniques == c(None, 2, 1, 1, 1, 2)
    assert rows[history.a.id].label == "人民广场店 (A1)"
    assert rows[history.b.id].counts == c(None, 1, 0, 0, 0, 0)
    assert rows[history.a.id].rates["impression_per_query"] is None
    assert rows[history.a.id].rates["visit_per_impression"] == 1.5
    assert report.total.counts == c(None, 3, 1, 1, 1, 3)


def test_one_outlet_by_hour_uses_its_own_zone(session, history, how) -> None:
    report = run(session, how, scope=frozenset({history.r1.id}), outlet_id=history.b.id,
                 group_by="hour")
    nonzero = {r.key: r.counts for r in report.rows if any(report_values(r.counts))}
    assert nonzero == {7: c(None, 1, 0, 0, 0, 0)}


def test_by_region(session, history, how) -> None:
    rows = {r.key: r for r in run(session, how, scope=None, group_by="region").rows}
    assert rows[history.r1.id].counts == c(3, 3, 1, 1, 1, 3)
    assert rows[history.r2.id].counts == c(1, 1, 1, 0, 0, 0)
    assert rows[0].counts == c(1, 0, 0, 0, 0, 0)
    assert rows[history.r2.id].label == "华南"


def test_range_edges_are_local_days(session, history, how) -> None:
    scope = frozenset({history.r1.id})
    before = run(session, how, scope=scope, date_from=date(2025, 3, 2), date_to=date(2025, 3, 2))
    after = run(session, how, scope=scope, date_from=date(2025, 3, 10), date_to=date(2025, 3, 10))
    assert before.total.counts["query"] == 1
    assert after.total.counts["query"] == 1


def test_manager_cannot_reach_another_region(session, history, how) -> None:
    mine = frozenset({history.r2.id})
    with pytest.raises(NotFound):
        run(session, how, scope=mine, region_id=history.r1.id)
    with pytest.raises(NotFound):
        run(session, how, scope=mine, outlet_id=history.a.id)
    rows = run(session, how, scope=mine, group_by="region").rows
    assert [r.key for r in rows] == [history.r2.id]
    with pytest.raises(PermissionDenied):
        run(session, how, scope=frozenset())


def test_bad_parameters_are_rejected(session, history, how) -> None:
    with pytest.raises(ValidationError):
        run(session, how, scope=None, group_by="month")
    with pytest.raises(ValidationError):
        run(session, how, scope=None, date_from=TO, date_to=FROM)
    with pytest.raises(ValidationError):
        run(session, how, scope=None, date_from=date(2020, 1, 1), date_to=date(2025, 1, 1))
