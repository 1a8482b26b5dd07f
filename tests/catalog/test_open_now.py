"""open_now=true: exact against a brute-force check, and no per-outlet work per request."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from o2o.catalog.changes import record_change
from o2o.catalog.models import Outlet
from o2o.catalog.nearby import POSITION_DECIMALS, find_nearby
from o2o.catalog.runtime import Catalog
from o2o.geo.distance import haversine_m
from tests.catalog.hours_checks import count_hours_checks
from tests.factories import ALWAYS_OPEN, make_outlet

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NIGHT = {d: [["22:00", "02:00"]] for d in DAYS}  # past midnight
DAY = {d: [["09:00", "21:30"]] for d in DAYS}
LUNCH = {d: [["11:00", "14:00"]] for d in DAYS[:5]}  # weekdays only
TIMETABLES = [ALWAYS_OPEN, NIGHT, DAY, LUNCH, None]  # None: hours unknown, never "open now"
MONDAY_NOON = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def make_chain(sessions, n: int, *, seed: int, open_share: float = 0.2) -> None:
    """n outlets around Shanghai; about open_share of them always open, the rest on other
    timetables, some temporarily closed, a few tagged."""
    rnd = random.Random(seed)
    with sessions.begin() as s:
        for i in range(n):
            hours = ALWAYS_OPEN if rnd.random() < open_share else rnd.choice(TIMETABLES[1:])
            make_outlet(s, code=f"C{seed}-{i}", lat=31.2 + rnd.uniform(-0.3, 0.3),
                        lng=121.47 + rnd.uniform(-0.3, 0.3), hours=hours,
                        status="temporarily_closed" if rnd.random() < 0.1 else "open",
                        tags=["24h"] if rnd.random() < 0.3 else [])


def brute_force(catalog: Catalog, lat: float, lng: float, at: datetime, k: int,
                tags: frozenset[str] = frozenset()) -> list[tuple[float, str]]:
    lat, lng = round(lat, POSITION_DECIMALS), round(lng, POSITION_DECIMALS)  # as every surface
    found = sorted((haversine_m(lat, lng, v.lat, v.lng), v.code) for v in catalog.outlets()
                   if v.is_open(at) is True and tags <= v.tags)
    return found[:k]


def assert_same(got: list[tuple[float, str]], want: list[tuple[float, str]]) -> None:
    assert [c for _, c in got] == [c for _, c in want]
    assert [d for d, _ in got] == pytest.approx([d for d, _ in want], abs=1e-3)


def answer(catalog: Catalog, lat: float, lng: float, at: datetime, k: int,
           tags: frozenset[str] = frozenset()) -> list[tuple[float, str]]:
    result = find_nearby(catalog, lat=lat, lng=lng, crs="wgs84", k=k, open_now=True, at=at,
                         tags=tags or None)
    return [(r.distance_m, r.outlet.code) for r in result.results]


def test_open_now_equals_brute_force_through_the_day_and_after_changes(sessions):
    make_chain(sessions, 150, seed=1)
    catalog = Catalog(sessions)
    catalog.load()
    rnd = random.Random(2)
    for hour in (0, 1, 3, 10, 12, 13, 22):  # Shanghai hours on a Monday and a Sunday
        for day in (MONDAY_NOON, MONDAY_NOON - timedelta(days=1)):
            at = day.replace(hour=(hour - 8) % 24, minute=rnd.randrange(60), second=17)
            for _ in range(5):
                lat, lng = 31.2 + rnd.uniform(-0.4, 0.4), 121.47 + rnd.uniform(-0.4, 0.4)
                for tags in (frozenset(), frozenset({"24h"})):
                    assert_same(answer(catalog, lat, lng, at, 5, tags),
                                brute_force(catalog, lat, lng, at, 5, tags))
    # A change inside the same minute reaches the open-now answer too.
    at = MONDAY_NOON.replace(hour=18)  # 02:00 in Shanghai: only always-open ones trade
    here = (31.2, 121.47)
    catalog.open_index(at)  # built before the change
    nearest_closed = next(c for _, c in sorted(
        (haversine_m(*here, v.lat, v.lng), v.code) for v in catalog.outlets()
        if v.status == "open" and v.is_open(at) is False))
    with sessions.begin() as s:
        row = s.query(Outlet).filter_by(code=nearest_closed).one()
        row.hours = ALWAYS_OPEN
        record_change(s, "outlet", row.id)
    catalog.refresh()
    assert nearest_closed in [c for _, c in answer(catalog, *here, at, 50)]
    assert_same(answer(catalog, *here, at, 5), brute_force(catalog, *here, at, 5))


def test_work_per_request_does_not_grow_with_the_chain(sessions, monkeypatch):
    """Count opening-hours checks, at 4 a.m. when only a few outlets trade: a request makes
    one per result shown (its "open now" label), whatever the chain's size; building a
    minute's index makes one per timetable."""
    calls = count_hours_checks(monkeypatch)
    at = MONDAY_NOON.replace(hour=20)  # 04:00 in Shanghai
    for n, seed in ((40, 3), (400, 4)):
        make_chain(sessions, n, seed=seed, open_share=0.02)
        catalog = Catalog(sessions)
        catalog.load()
        calls["n"] = 0
        catalog.open_index(at)
        assert calls["n"] <= len(TIMETABLES)  # per timetable, not per outlet
        calls["n"] = 0
        result = find_nearby(catalog, lat=31.2, lng=121.47, crs="wgs84", k=5, open_now=True,
                             at=at)
        assert result.results and all(r.open_now for r in result.results)
        # One per result shown, and two for the nearest outlet overall (is it closed, and
        # then its label in the closed-nearer note); the old filter made about n.
        assert len(result.results) <= calls["n"] <= len(result.results) + 2 <= 7
