"""Outlets as columns give exactly the views the ORM rows give, find codes and words, and
answer "open at" per timetable; a fold keeps every outlet but the replaced ones."""

from __future__ import annotations

from datetime import date

import pytest

from o2o.catalog import columns, loading
from o2o.catalog.columns import Tables
from o2o.catalog.columns_build import base, build, fold
from o2o.catalog.models import Outlet
from o2o.catalog.views import outlet_view
from tests.factories import make_outlet, make_region

WEEKDAYS = {d: [["08:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


@pytest.fixture
def chain(sessions):
    with sessions.begin() as s:
        east = make_region(s, code="EAST", name="华东")
        make_outlet(s, code="A1", name="南京东路店", address="南京东路 1 号", region=east,
                    tags=["wifi", "drive"], phone="021-1", image_url="https://x/a.jpg",
                    geofence_radius_m=120, district="黄浦区")
        make_outlet(s, code="B2", name="Airport Café", city="北京", hours=WEEKDAYS,
                    exceptions={"2026-12-25": []}, timezone="Asia/Shanghai", lat=40.08,
                    lng=116.6, status="temporarily_closed", reopen_on=date(2027, 1, 3))
        make_outlet(s, code="C3", name="夜店", hours=None, lat=-33.9, lng=151.2,
                    timezone="Australia/Sydney", geofence_wkt="POLYGON((0 0,1 0,1 1,0 0))")
    with sessions() as s:
        orm = {o.id: outlet_view(o) for o in s.query(Outlet)}
        built = loading.read_all(s, lambda row, exc: pytest.fail(f"{row.id}: {exc}"))
    return orm, built


def test_views_from_columns_equal_views_from_rows(chain) -> None:
    orm, built = chain
    for cols in (built.columns(), built.base()):
        views = {int(cols.ids[r]): cols.view(r) for r in range(len(cols))}
        assert views == orm
        assert {cols.row_of(i) for i in orm} == set(range(3)) and cols.row_of(10**9) is None


def test_codes_and_words_are_found(chain) -> None:
    orm, built = chain
    cols = built.base()
    for view in orm.values():
        (row,) = cols.rows_of_code(view.code)
        assert int(cols.ids[row]) == view.id
    assert cols.rows_of_code("A") == [] and cols.rows_of_code("A1 ") == []
    assert [cols.fields(r)[0] for r in cols.text_matches("airport").tolist()] == ["B2"]
    assert [cols.fields(r)[0] for r in cols.text_matches("南京东路").tolist()] == ["A1"]
    assert len(cols.text_matches("店")) == 2 and len(cols.text_matches("zzz")) == 0


def test_code_lookup_survives_hash_collisions(chain, monkeypatch) -> None:
    _, built = chain
    monkeypatch.setattr(columns, "code_hash", lambda code: 42)
    monkeypatch.setattr("o2o.catalog.columns_build.code_hash", lambda code: 42)
    cols = built.base()  # every code on one key: the stored code decides
    assert [cols.fields(cols.rows_of_code(c)[0])[0] for c in ("A1", "B2", "C3")] == ["A1", "B2", "C3"]


def test_a_fold_replaces_and_drops_outlets(chain, sessions) -> None:
    orm, built = chain
    cols = built.base()
    a, b, c = sorted(orm)
    with sessions.begin() as s:
        s.get(Outlet, a).name = "改名店"
        s.get(Outlet, a).set_position(31.3, 121.5)
    with sessions() as s:
        rows = list(loading.rows(s, Outlet.id == a))
    overlay = build(rows, cols.tables, lambda row, exc: None).parts()
    folded = columns.OutletColumns(fold(cols, [a, b], overlay, cols.tables), cols.tables)
    views = {int(folded.ids[r]): folded.view(r) for r in range(len(folded))}
    assert sorted(views) == [a, c] and views[a].name == "改名店" and views[a].lat == 31.3
    assert views[c] == orm[c]
    assert [folded.row_of(i) is not None for i in (a, b, c)] == [True, False, True]


def test_rows_that_cannot_be_served_are_refused_whole(sessions, db_url) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL text cannot hold NUL at all")
    with sessions.begin() as s:
        make_outlet(s, code="OK")
        make_outlet(s, code="BAD", name="a\x00b")
    skipped = []
    with sessions() as s:
        built = loading.read_all(s, lambda row, exc: skipped.append((row[1], type(exc))))
    assert skipped == [("BAD", ValueError)]
    cols = base(built.parts(), built.tables)
    assert len(cols["ids"]) == 1 and Tables.from_json(built.tables.to_json()).tags == built.tables.tags
