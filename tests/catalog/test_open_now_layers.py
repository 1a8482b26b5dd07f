"""OpenNow as status layers over the main index: the columnar build (one verdict per
timetable, then np.where) and the build from views agree with a brute-force check, changes
reach a minute through the layer callback, compactions keep it, a new base ends it."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import pytest

from o2o.catalog.hours import OpeningHours
from o2o.catalog.open_now import NOT_OPEN, OPEN, OpenNow, minute_of
from o2o.catalog.views import OutletView, index_entry
from o2o.geo.distance import haversine_m
from o2o.geo.index import STATUS_CODE, NearestIndex, StaleBase
from tests.catalog.hours_checks import count_hours_checks
from tests.factories import ALWAYS_OPEN

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKLIES = [ALWAYS_OPEN, {d: [["22:00", "02:00"]] for d in DAYS},
            {d: [["09:00", "21:30"]] for d in DAYS}, {d: [["11:00", "14:00"]] for d in DAYS[:5]}]
TIMETABLES: list[OpeningHours | None] = [OpeningHours.compile(w) for w in WEEKLIES] + [None]
MONDAY_NOON = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def view(i: int, lat: float, lng: float, hours: int, status: str = "open",
         tags: frozenset[str] = frozenset()) -> OutletView:
    return OutletView(i, f"C{i}", f"门店{i}", "", "上海", "", "", lat, lng, "Asia/Shanghai",
                      None, None, None, status, None, tags, "", 100, None, TIMETABLES[hours])


def chain(n: int, seed: int) -> dict[int, OutletView]:
    rnd = random.Random(seed)
    return {i: view(i, 31.2 + rnd.uniform(-0.3, 0.3), 121.47 + rnd.uniform(-0.3, 0.3),
                    rnd.randrange(len(TIMETABLES)),
                    "temporarily_closed" if rnd.random() < 0.1 else "open",
                    frozenset({"24h"}) if rnd.random() < 0.3 else frozenset())
            for i in range(n)}  # fmt: skip


def main_index(views: dict[int, OutletView], capacity: int = 1024) -> NearestIndex:
    index = NearestIndex(pending_capacity=capacity)
    index.build(index_entry(v) for v in views.values())
    return index


def columns(index: NearestIndex, views: dict[int, OutletView]) -> tuple[np.ndarray, np.ndarray]:
    """What the columnar catalog hands over: status and hours id in the base's tree order."""
    order = [views[i] for i in index.base_ids().tolist()]
    status = np.array([STATUS_CODE[v.status] for v in order], np.int8)
    hours = np.array([TIMETABLES.index(v.hours) if v.hours else -1 for v in order], np.int32)
    return status, hours


def brute(views: dict[int, OutletView], at: datetime, lat: float, lng: float, k: int,
          tags: frozenset[str] = frozenset()) -> list[int]:
    return [i for _, i in sorted((haversine_m(lat, lng, v.lat, v.lng), v.id)
                                 for v in views.values()
                                 if v.is_open(at) is True and tags <= v.tags)[:k]]


def check(found, views: dict[int, OutletView], at: datetime, seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(10):
        lat, lng = 31.2 + rnd.uniform(-0.4, 0.4), 121.47 + rnd.uniform(-0.4, 0.4)
        for tags in (frozenset(), frozenset({"24h"})):
            hits = found.nearest(lat, lng, 5, tags=tags or None)
            assert [h.id for h in hits] == brute(views, at, lat, lng, 5, tags)


@pytest.mark.parametrize("hour", [0, 1, 3, 10, 12, 13, 22])
def test_columnar_and_view_builds_equal_brute_force(hour: int, monkeypatch) -> None:
    views = chain(300, seed=hour)
    index = main_index(views)
    at = MONDAY_NOON.replace(hour=(hour - 8) % 24, minute=7)
    minute = minute_of(at)
    calls = count_hours_checks(monkeypatch)
    open_now = OpenNow(index)
    status, hours = columns(index, views)
    found = open_now.build(minute, status, hours, TIMETABLES, base=index.base)
    assert calls["n"] <= len(TIMETABLES)  # per timetable, not per outlet
    check(found, views, at, seed=hour)
    calls["n"] = 0
    from_views = OpenNow(index).build(minute, views.values())
    assert calls["n"] <= len(TIMETABLES)
    assert np.array_equal(from_views.layer.data.status, found.layer.data.status)
    assert open_now.get(minute) is found and open_now.get(minute + 1) is None


def test_changes_reach_the_minute_and_compactions_keep_it() -> None:
    views = chain(200, seed=9)
    index = main_index(views, capacity=4)  # a compaction every few changes
    at = MONDAY_NOON.replace(hour=18)  # 02:00 in Shanghai
    open_now = OpenNow(index)
    found = open_now.build(minute_of(at), *columns(index, views), TIMETABLES)
    check(found, views, at, seed=1)
    rnd = random.Random(3)
    for step in range(60):
        i = rnd.randrange(250)
        if step % 4 == 0 and i in views:
            open_now.patch({i: None})
            index.remove(i)
            del views[i]
        else:  # new hours only (the index entry is the same), or moved, or new
            old = views.get(i) or view(i, 31.2, 121.47, 0)
            lat, lng = (old.lat, old.lng) if step % 2 else (31.2 + rnd.uniform(-0.3, 0.3),
                                                            121.47 + rnd.uniform(-0.3, 0.3))
            views[i] = view(i, lat, lng, rnd.randrange(len(TIMETABLES)), old.status, old.tags)
            open_now.patch({i: views[i]})
            index.upsert(index_entry(views[i]))
        assert open_now.get(minute_of(at)) is found  # carried through compactions
        check(found, views, at, seed=step)


def test_a_new_base_ends_the_minutes_and_old_minutes_are_dropped() -> None:
    views = chain(50, seed=4)
    index = main_index(views)
    open_now = OpenNow(lambda: index)
    at = minute_of(MONDAY_NOON)
    first = open_now.build(at, views.values())
    second = open_now.build(at + 1, views.values())
    third = open_now.build(at + 2, views.values())  # keeps MINUTES_KEPT: the first one ends
    assert not first.live and second.live and open_now.get(at + 2) is third
    old_base = index.base
    index.build(index_entry(v) for v in views.values())
    assert open_now.get(at + 2) is None
    with pytest.raises(StaleBase):
        open_now.build(at, *columns(index, views), TIMETABLES, base=old_base)
    again = open_now.build(at + 2, *columns(index, views), TIMETABLES, base=index.base)
    assert open_now.get(at + 2) is again
    assert set(again.layer.data.status.tolist()) <= {OPEN, NOT_OPEN}
    open_now.clear()
    assert not again.live and open_now.get(at + 2) is None
