"""Rows that got past validation (written straight into the database) are left out of the
live catalog, logged once with id and reason, and counted; a start or refresh never fails."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY, generate_latest

from o2o.catalog.changes import record_change
from o2o.catalog.models import Outlet, Promotion
from o2o.catalog.runtime import Catalog
from o2o.services import build_services
from tests.factories import ALWAYS_OPEN, make_outlet, make_promotion

#: Stored values no admin write accepts; each is written with plain SQL, as a bad migration,
#: a hand edit or an older version might have left it.
BAD_OUTLET_VALUES = [
    {"status": "bogus"},
    {"timezone": "Mars/Olympus_Mons"},
    {"hours": {"mon": [["07:00", "25:00"]]}},
    {"hours": ["not", "a", "week"]},
    {"tags": [1, 2]},
    {"tags": {"wifi": True}},
]


def skipped(entity: str) -> float:
    return REGISTRY.get_sample_value("o2o_catalog_rows_skipped_total", {"entity": entity}) or 0.0


def spoil(session, model, row_id: int, values: dict) -> None:
    """Overwrite columns with raw SQL, bypassing every check the services make."""
    table = model.__table__
    session.execute(sa.update(table).where(table.c.id == row_id).values(**values))


@pytest.fixture
def bad_chain(sessions):
    """One good outlet and promotion, and one bad outlet per bad value plus a bad promotion."""
    with sessions.begin() as s:
        good = make_outlet(s, code="GOOD", lat=31.2, lng=121.4, hours=ALWAYS_OPEN)
        bad = [make_outlet(s, code=f"BAD{i}", lat=31.2, lng=121.4 + (i + 1) / 1000).id
               for i in range(len(BAD_OUTLET_VALUES))]
        make_promotion(s, code="OK", title="good offer")
        bad_promo = make_promotion(s, code="BADP", title="bad offer").id
        for oid, values in zip(bad, BAD_OUTLET_VALUES, strict=True):
            spoil(s, Outlet, oid, values)
        spoil(s, Promotion, bad_promo, {"daily_start": "99:99"})
        return {"good": good.id, "bad": bad, "bad_promo": bad_promo}


def test_load_leaves_bad_rows_out_logs_once_and_counts(sessions, bad_chain, caplog):
    outlets, promos = skipped("outlet"), skipped("promotion")
    catalog = Catalog(sessions)
    with caplog.at_level(logging.ERROR, logger="o2o.catalog"):
        catalog.load()
        catalog.load()  # met again: neither logged nor counted twice
    assert [v.code for v in catalog.outlets()] == ["GOOD"]
    assert [h.id for h in catalog.index.nearest(31.2, 121.4, 10)] == [bad_chain["good"]]
    assert [p.code for p in catalog.promotions()] == ["OK"]
    assert skipped("outlet") - outlets == len(bad_chain["bad"])
    assert skipped("promotion") - promos == 1
    logged = [r.getMessage() for r in caplog.records if "cannot be served" in r.getMessage()]
    assert len(logged) == len(bad_chain["bad"]) + 1
    assert any(f"outlet {bad_chain['bad'][1]} " in m and "Mars/Olympus_Mons" in m for m in logged)
    assert b"o2o_catalog_rows_skipped_total" in generate_latest(REGISTRY)  # what /metrics shows


def test_refresh_drops_a_row_gone_bad_and_takes_it_back_when_fixed(sessions, bad_chain):
    catalog = Catalog(sessions)
    catalog.load()
    good = bad_chain["good"]
    with sessions.begin() as s:
        spoil(s, Outlet, good, {"hours": {"tue": "always"}})
        record_change(s, "outlet", good)
    assert catalog.refresh() == 1  # no exception, the feed moved on
    assert catalog.outlet(good) is None and catalog.index.nearest(31.2, 121.4, 5) == []
    with sessions.begin() as s:
        spoil(s, Outlet, good, {"hours": ALWAYS_OPEN})
        record_change(s, "outlet", good)
    catalog.refresh()
    assert [h.id for h in catalog.index.nearest(31.2, 121.4, 5)] == [good]


def test_services_start_with_bad_rows(settings, bad_chain):
    services = build_services(settings, migrate=False, load_demo=False, sync=False)
    try:
        assert [v.code for v in services.catalog.outlets()] == ["GOOD"]
    finally:
        services.close()
