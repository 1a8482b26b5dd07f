"""The demand grid and "open here next" against the hand-computed known history."""

from __future__ import annotations

from datetime import date

import h3
import pytest

from o2o.analytics.demand import demand_grid, open_here_next
from o2o.analytics.events import DEMAND_RES
from o2o.analytics.retention import purge
from o2o.errors import NotFound, ValidationError
from o2o.geo.distance import format_distance_zh, haversine_m
from tests.factories_events import FAR, FROM, NEAR_A, NEAR_C, TO, known_history

X = h3.latlng_to_cell(*NEAR_A, DEMAND_RES)
Y = h3.latlng_to_cell(*FAR, DEMAND_RES)
Z = h3.latlng_to_cell(*NEAR_C, DEMAND_RES)


@pytest.fixture
def history(session, services):  # type: ignore[no-untyped-def]
    h = known_history(session)
    services.catalog.refresh()
    return h


def grid(session, services, scope, **kw):  # type: ignore[no-untyped-def]
    return demand_grid(session, catalog=services.catalog, scope=scope,
                       date_from=kw.pop("date_from", FROM), date_to=kw.pop("date_to", TO), **kw)


def test_region_grid_by_hand(session, services, history) -> None:
    report = grid(session, services, frozenset({history.r1.id}))
    assert [(c.cell, c.queries, c.uniques, c.recorded_distance_m) for c in report.cells] == [
        (X, 2, 2, 70.0), (Y, 1, 0, 52000.0)]
    x = report.cells[0]
    centre = h3.cell_to_latlng(X)
    assert x.nearest_outlet_id == history.a.id
    assert x.nearest_outlet == "人民广场店 (A1)"
    assert x.nearest_distance_m == pytest.approx(haversine_m(*centre, 31.2304, 121.4737), abs=0.1)
    assert len(x.boundary) == 6
    assert report.cells[1].nearest_distance_m > 40_000
    assert report.as_dict()["queries"] == 3
    # A manager reads the distance rounded as a customer's reply says it.
    shown = report.as_dict()["cells"][1]
    assert shown["nearest_distance_text"] == format_distance_zh(shown["nearest_distance_m"])


def test_admin_grid_and_other_regions(session, services, history) -> None:
    cells = {c.cell: c.queries for c in grid(session, services, None).cells}
    assert cells == {X: 2, Y: 1, Z: 1, h3.latlng_to_cell(50.0, 10.0, DEMAND_RES): 1}
    mine = grid(session, services, frozenset({history.r2.id}))
    assert [(c.cell, c.queries, c.nearest_outlet_id) for c in mine.cells] == [
        (Z, 1, history.c.id)]
    with pytest.raises(NotFound):
        grid(session, services, frozenset({history.r2.id}), region_id=history.r1.id)


def test_open_here_next(session, services, history) -> None:
    report = grid(session, services, frozenset({history.r1.id}))
    assert [c.cell for c in open_here_next(report, min_queries=1, radius_km=10)] == [Y]
    assert open_here_next(report, min_queries=2, radius_km=10) == []
    assert [c.cell for c in open_here_next(report, min_queries=1, radius_km=0.3)] == [X, Y]
    with pytest.raises(ValidationError):
        open_here_next(report, min_queries=0, radius_km=10)
    with pytest.raises(ValidationError):
        open_here_next(report, min_queries=1, radius_km=0)


def test_coarser_cells_and_local_day_edges(session, services, history) -> None:
    coarse = grid(session, services, frozenset({history.r1.id}), res=6)
    assert {c.cell: c.queries for c in coarse.cells} == {
        h3.cell_to_parent(X, 6): 2, h3.cell_to_parent(Y, 6): 1}
    day_before = grid(session, services, frozenset({history.r1.id}),
                      date_from=date(2025, 3, 2), date_to=date(2025, 3, 2))
    assert [(c.cell, c.queries) for c in day_before.cells] == [(Y, 1)]
    with pytest.raises(ValidationError):
        grid(session, services, None, res=9)


def test_grid_survives_a_purge(session, services, history) -> None:
    before = grid(session, services, None).as_dict()
    session.rollback()
    purge(session, retention_days=1)
    assert grid(session, services, None).as_dict() == before
