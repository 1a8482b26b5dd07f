"""The live catalog: built from the database, patched from the change feed, never torn."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import sqlalchemy as sa

from o2o.catalog.changes import record_change
from o2o.catalog.models import CatalogChange, Outlet
from o2o.catalog.runtime import Catalog
from tests.factories import make_outlet, make_promotion, make_region

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # a Monday, 12:00 in Shanghai


def test_load_builds_index_and_promotions(sessions) -> None:
    with sessions.begin() as s:
        near = make_outlet(s, lat=31.2304, lng=121.4737, code="NEAR")
        make_outlet(s, lat=31.30, lng=121.50, code="FAR")
        make_outlet(s, lat=31.2305, lng=121.4738, code="GONE", status="closed")
        make_promotion(s, outlets=[near], title="买一送一")
    cat = Catalog(sessions)
    cat.load()
    assert len(cat) == 3
    hits = cat.index.nearest(31.2304, 121.4737, 5)
    assert [cat.outlet(h.id).code for h in hits] == ["NEAR", "FAR"]  # closed is filtered
    assert [p.title for p in cat.promotions_for(cat.outlet_by_code("NEAR"), NOW)] == ["买一送一"]
    assert cat.promotions_for(cat.outlet_by_code("FAR"), NOW) == []


def test_refresh_patches_moves_status_and_soft_deletes(sessions) -> None:
    with sessions.begin() as s:
        a = make_outlet(s, lat=31.0, lng=121.0, code="A")
        b = make_outlet(s, lat=31.1, lng=121.1, code="B")
    cat = Catalog(sessions)
    cat.load()
    index_before = cat.index
    with sessions.begin() as s:
        row = s.get(Outlet, a.id)
        row.set_position(31.2, 121.2)  # A moves past B
        record_change(s, "outlet", a.id)
        s.get(Outlet, b.id).deleted_at = NOW
        record_change(s, "outlet", b.id)
    assert cat.refresh() == 2
    assert cat.index is index_before  # patched in place, not rebuilt
    assert cat.outlet_by_code("B") is None
    (hit,) = cat.index.nearest(31.2, 121.2, 5)
    assert cat.outlet(hit.id).code == "A" and hit.distance_m < 1
    assert cat.refresh() == 0  # nothing new


def test_region_change_rebuilds_with_new_names(sessions) -> None:
    with sessions.begin() as s:
        region = make_region(s, code="EAST", name="华东")
        make_outlet(s, region=region, code="A")
    cat = Catalog(sessions)
    cat.load()
    with sessions.begin() as s:
        s.execute(sa.update(type(region)).values(name="华东大区"))
        record_change(s, "region", region.id)
    assert cat.refresh() == 1
    assert cat.outlet_by_code("A").region_name == "华东大区"


def test_out_of_order_commits_are_not_missed(sessions) -> None:
    """A change whose seq is below one already applied (PostgreSQL sequences commit out of
    order) is still picked up on a later refresh."""
    with sessions.begin() as s:
        a = make_outlet(s, code="A", lat=30.0, lng=120.0)
    cat = Catalog(sessions)
    cat.load()
    base = cat.seq
    with sessions.begin() as s:
        s.add(CatalogChange(seq=base + 2, entity="promotion", entity_id=999))
    cat.refresh()
    assert cat.seq == base + 2
    with sessions.begin() as s:  # the slower transaction commits seq base+1 afterwards
        s.get(Outlet, a.id).name = "改名后"
        s.add(CatalogChange(seq=base + 1, entity="outlet", entity_id=a.id))
    assert cat.refresh() == 1
    assert cat.outlet_by_code("A").name == "改名后"


def test_a_second_worker_sees_a_change_within_a_second(sessions) -> None:
    with sessions.begin() as s:
        a = make_outlet(s, code="A", name="旧名")
    worker = Catalog(sessions, poll_s=0.05)
    worker.load()
    worker.start()
    try:
        with sessions.begin() as s:
            s.get(Outlet, a.id).name = "新名"
            record_change(s, "outlet", a.id)
        deadline = time.monotonic() + 5  # generous: the claim is measured, not timed here
        while worker.outlet_by_code("A").name != "新名" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker.outlet_by_code("A").name == "新名"
    finally:
        worker.close()


def test_a_refresh_in_progress_does_not_hold_up_writers(sessions, monkeypatch) -> None:
    import threading

    import o2o.catalog.runtime as runtime

    with sessions.begin() as s:
        a = make_outlet(s, lat=31.0, lng=121.0, code="A")
        record_change(s, "outlet", a.id)
    cat = Catalog(sessions)
    reading, release = threading.Event(), threading.Event()
    real = runtime.changes_since

    def slow_changes(*args, **kwargs):  # the refresh's transaction is open meanwhile
        reading.set()
        assert release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(runtime, "changes_since", slow_changes)
    refresh = threading.Thread(target=cat.refresh)
    refresh.start()
    try:
        assert reading.wait(10)
        engine = sessions.kw["bind"]
        with engine.connect() as writer:
            if engine.dialect.name == "sqlite":  # any wait for the lock would fail at once
                writer.connection.dbapi_connection.execute("PRAGMA busy_timeout=0")
            with writer.begin():
                writer.execute(sa.update(Outlet).where(Outlet.id == a.id).values(name="B"))
    finally:
        release.set()
        refresh.join(10)
    assert cat.outlet_by_code("A") is not None
