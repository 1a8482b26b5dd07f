"""Workers of one host share one snapshot of the columns: the first builds it, the others
(and restarts) map it; a snapshot is caught up or rebuilt when the database moved on; the
overlay of live changes is folded into a new base that every worker moves to."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from o2o.catalog import folding, loading, runtime
from o2o.catalog.changes import record_change
from o2o.catalog.models import Outlet
from o2o.catalog.runtime import Catalog
from tests.factories import make_outlet


def haversine_order(cat: Catalog, lat: float, lng: float) -> list[str]:
    def d(v) -> float:  # type: ignore[no-untyped-def]
        p1, p2 = math.radians(lat), math.radians(v.lat)
        a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(
            math.radians(v.lng - lng) / 2) ** 2
        return 2 * math.asin(math.sqrt(a))
    return [v.code for v in sorted((v for v in cat.outlets() if v.status == "open"), key=d)]


def nearest_codes(cat: Catalog, lat: float, lng: float, k: int = 50) -> list[str]:
    return [cat.outlet(h.id).code for h in cat.index.nearest(lat, lng, k)]


@pytest.fixture
def chain(sessions):
    with sessions.begin() as s:
        for i in range(30):
            make_outlet(s, code=f"S{i:02d}", lat=31 + i / 100, lng=121 + (i % 7) / 50)


def count_selects(engine) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cur, stmt, *a: seen.append(stmt) if "FROM outlets" in stmt
                    and "count" not in stmt.lower() else None)
    return seen


def test_a_second_worker_maps_the_first_ones_snapshot(sessions, engine, chain, tmp_path) -> None:
    path = tmp_path / "catalog.columns"
    first = Catalog(sessions, snapshot=path)
    first.load()
    assert path.is_file() and first.live.identity is not None
    reads = count_selects(engine)
    second = Catalog(sessions, snapshot=path)
    second.load()
    assert reads == []  # mapped, not read from the rows
    assert second.live.identity == first.live.identity
    assert len(second) == 30 and nearest_codes(second, 31.1, 121.05) == haversine_order(first, 31.1, 121.05)
    assert second.outlet_by_code("S07").lat == pytest.approx(31.07)


def test_a_restart_catches_up_with_changes_made_while_it_was_down(sessions, engine, chain,
                                                                  tmp_path) -> None:
    path = tmp_path / "catalog.columns"
    Catalog(sessions, snapshot=path).load()
    with sessions.begin() as s:
        moved = s.scalars(sa.select(Outlet).where(Outlet.code == "S03")).one()
        moved.set_position(35.0, 120.0)
        record_change(s, "outlet", moved.id)
        make_outlet(s, code="NEW", lat=31.001, lng=121.001)
    reads = count_selects(engine)
    cat = Catalog(sessions, snapshot=path)
    cat.load()
    assert len(reads) == 1  # just the changed outlets
    assert cat.outlet_by_code("S03").lat == 35.0 and len(cat) == 31
    assert nearest_codes(cat, 31.002, 121.002, 2) == ["NEW", "S00"]


def test_another_database_at_the_same_path_is_rebuilt(sessions, engine, chain, tmp_path) -> None:
    path = tmp_path / "catalog.columns"
    Catalog(sessions, snapshot=path).load()
    with sessions.begin() as s:  # rows changed behind the feed's back: not the same life
        s.execute(sa.delete(Outlet).where(Outlet.code == "S05"))
    cat = Catalog(sessions, snapshot=path)
    cat.load()
    assert len(cat) == 29 and cat.outlet_by_code("S05") is None


def test_the_overlay_is_folded_and_every_worker_moves_to_the_new_base(sessions, chain,
                                                                       tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(folding, "FOLD_AT", 3)
    path = tmp_path / "catalog.columns"
    a, b = Catalog(sessions, snapshot=path), Catalog(sessions, snapshot=path)
    a.load()
    b.load()
    with sessions.begin() as s:
        rows = s.scalars(sa.select(Outlet).order_by(Outlet.id)).all()
        for row in rows[:3]:
            row.set_position(row.lat + 1, row.lng)
            record_change(s, "outlet", row.id)
        rows[3].deleted_at = sa.func.now()
        record_change(s, "outlet", rows[3].id)
    a.refresh()
    b.refresh()
    assert len(a.live.overlay) == 4 and a.fold() is True  # folded and written
    assert a.live.overlay == {} and len(a) == 29
    assert b.fold() is True and b.live.identity == a.live.identity  # moved, not folded again
    assert b.live.overlay == {} and len(b) == 29
    for cat in (a, b):
        assert nearest_codes(cat, 32.0, 121.0) == haversine_order(cat, 32.0, 121.0)
    restarted = Catalog(sessions, snapshot=path)
    restarted.load()
    assert restarted.live.identity == a.live.identity and len(restarted) == 29


def test_a_bulk_change_makes_a_new_base(sessions, chain, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(runtime, "BULK_CHANGES", 5)
    path = tmp_path / "catalog.columns"
    cat = Catalog(sessions, snapshot=path)
    cat.load()
    before = cat.live.identity
    with sessions.begin() as s:
        for i in range(10):
            make_outlet(s, code=f"BULK{i}", lat=10 + i, lng=10)
    assert cat.refresh() == 10
    assert cat.live.identity != before and cat.live.overlay == {} and len(cat) == 40


def test_a_worker_without_a_state_directory_folds_in_memory(sessions, chain, monkeypatch) -> None:
    monkeypatch.setattr(folding, "FOLD_AT", 2)
    cat = Catalog(sessions)
    cat.load()
    with sessions.begin() as s:
        for row in s.scalars(sa.select(Outlet).limit(2)):
            row.name = "改名"
            record_change(s, "outlet", row.id)
    cat.refresh()
    assert cat.fold() is True and cat.live.overlay == {} and cat.live.identity is None
    assert sum(v.name == "改名" for v in cat.outlets()) == 2


def test_a_worker_starts_from_the_snapshot_while_the_database_is_away(sessions, chain,
                                                                      tmp_path) -> None:
    path = tmp_path / "catalog.columns"
    Catalog(sessions, snapshot=path).load()
    cat = Catalog(sessions, snapshot=path)
    assert cat.load_snapshot() is True and cat.stale and len(cat) == 30
    assert loading.position  # the next sync is a full load (checked in test_services)


def test_changes_during_a_fold_stay_in_the_new_overlay(sessions, chain, tmp_path,
                                                       monkeypatch) -> None:
    """The new base is built off the catalog lock: the change feed keeps flowing, and what
    arrives meanwhile is carried into the new base's overlay, not lost."""
    path = tmp_path / "catalog.columns"
    cat = Catalog(sessions, snapshot=path)
    cat.load()
    with sessions.begin() as s:
        first = s.scalars(sa.select(Outlet).where(Outlet.code == "S01")).one()
        first.name = "折叠前"
        record_change(s, "outlet", first.id)
    cat.refresh()
    real = Catalog._folded

    def folded_while_a_change_lands(self, live, rows, tables):  # type: ignore[no-untyped-def]
        with sessions.begin() as s:
            other = s.scalars(sa.select(Outlet).where(Outlet.code == "S02")).one()
            other.name = "折叠中"
            record_change(s, "outlet", other.id)
        assert self.refresh() == 1  # not blocked by the fold
        return real(self, live, rows, tables)

    monkeypatch.setattr(Catalog, "_folded", folded_while_a_change_lands)
    assert cat.fold(force=True) is True
    assert [v.code for v in cat.live.overlay.values()] == ["S02"]  # newer than the fold
    assert cat.outlet_by_code("S01").name == "折叠前" and cat.outlet_by_code("S02").name == "折叠中"
    restarted = Catalog(sessions, snapshot=path)
    restarted.load()  # the file has S01's change; S02's is caught up from the feed
    assert restarted.outlet_by_code("S01").name == "折叠前"
    assert restarted.outlet_by_code("S02").name == "折叠中"
