"""Visits: inside the geofence of an outlet shown within the window, once per local day."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.events import record_event
from o2o.analytics.models import Event
from o2o.customers.visits import detect_visits, local_xy
from o2o.geo.distance import haversine_m
from tests.factories import make_outlet
from tests.factories_loop import NOW, a_customer

HOUR = 3600
LAT, LNG = 31.2304, 121.4737


def _north(metres: float) -> float:
    """Latitude `metres` north of LAT (a degree of latitude is ~111.2 km)."""
    return LAT + metres / 111_195.0


def _shown(session: Session, who: str, outlet_id: int, *, ago_s: float, query: str = "q1") -> None:
    record_event(session, type="impression", customer_hash=who, query_id=query,
                 outlet_id=outlet_id, at=NOW - timedelta(seconds=ago_s),
                 dedup_key=f"impression:{query}:{outlet_id}")


def _visits(session: Session) -> list[Event]:
    return list(session.scalars(sa.select(Event).where(Event.type == "visit")))


@pytest.fixture
def shop(session: Session, services):  # type: ignore[no-untyped-def]
    outlet = make_outlet(session, lat=LAT, lng=LNG, geofence_radius_m=100)
    session.commit()
    services.catalog.refresh()
    return outlet


def test_inside_the_radius_after_being_shown_is_one_visit(session: Session, services,  # type: ignore[no-untyped-def]
                                                          shop) -> None:
    who = a_customer()
    _shown(session, who, shop.id, ago_s=HOUR)
    got = detect_visits(session, catalog=services.catalog, customer_hash=who, lat=_north(60),
                        lng=LNG, now=NOW, window_s=4 * HOUR)
    assert got == [shop.id]
    again = detect_visits(session, catalog=services.catalog, customer_hash=who, lat=_north(10),
                          lng=LNG, now=NOW + timedelta(minutes=30), window_s=4 * HOUR)
    assert again == []
    session.commit()
    [visit] = _visits(session)
    assert (visit.customer_hash, visit.outlet_id, visit.query_id) == (who, shop.id, "q1")
    assert visit.lat is None and visit.lng is None  # the position is never kept


def test_outside_the_radius_is_no_visit(session: Session, services, shop) -> None:  # type: ignore[no-untyped-def]
    who = a_customer()
    _shown(session, who, shop.id, ago_s=60)
    assert detect_visits(session, catalog=services.catalog, customer_hash=who, lat=_north(140),
                         lng=LNG, now=NOW, window_s=4 * HOUR) == []
    assert _visits(session) == []


@pytest.mark.parametrize("ago_s", [4 * HOUR + 1, -60])
def test_impression_outside_the_window_is_no_visit(session: Session, services, shop,  # type: ignore[no-untyped-def]
                                                   ago_s: float) -> None:
    who = a_customer()
    _shown(session, who, shop.id, ago_s=ago_s)
    assert detect_visits(session, catalog=services.catalog, customer_hash=who, lat=LAT, lng=LNG,
                         now=NOW, window_s=4 * HOUR) == []


def test_someone_elses_impression_does_not_count(session: Session, services, shop) -> None:  # type: ignore[no-untyped-def]
    _shown(session, a_customer(), shop.id, ago_s=60)
    assert detect_visits(session, catalog=services.catalog, customer_hash=a_customer(), lat=LAT,
                         lng=LNG, now=NOW, window_s=4 * HOUR) == []


def test_a_new_local_day_counts_again(session: Session, services, shop) -> None:  # type: ignore[no-untyped-def]
    who = a_customer()
    # NOW is 12:00 in Shanghai; 15:59 UTC is 23:59 there, 16:01 UTC is the next day.
    late = NOW.replace(hour=15, minute=59)
    _shown(session, who, shop.id, ago_s=-(late - NOW).total_seconds() + 60)
    assert detect_visits(session, catalog=services.catalog, customer_hash=who, lat=LAT, lng=LNG,
                         now=late, window_s=4 * HOUR) == [shop.id]
    assert detect_visits(session, catalog=services.catalog, customer_hash=who, lat=LAT, lng=LNG,
                         now=late + timedelta(minutes=2), window_s=4 * HOUR) == [shop.id]
    assert len(_visits(session)) == 2


def test_polygon_geofence_replaces_the_radius(session: Session, services) -> None:  # type: ignore[no-untyped-def]
    # A long thin mall along the street: 20 m wide, 600 m long, the outlet at its west end.
    wkt = (f"POLYGON(({LNG} {LAT}, {LNG + 0.0063} {LAT}, {LNG + 0.0063} {LAT + 0.00018}, "
           f"{LNG} {LAT + 0.00018}, {LNG} {LAT}))")
    outlet = make_outlet(session, lat=LAT + 0.00009, lng=LNG, geofence_radius_m=50,
                         geofence_wkt=wkt)
    session.commit()
    services.catalog.refresh()
    who = a_customer()
    _shown(session, who, outlet.id, ago_s=60)
    far_end = (LAT + 0.00009, LNG + 0.006)  # ~570 m east, inside the polygon
    beside = (LAT + 0.0004, LNG)            # ~35 m north: inside the radius, not the polygon
    assert detect_visits(session, catalog=services.catalog, customer_hash=who, lat=beside[0],
                         lng=beside[1], now=NOW, window_s=HOUR) == []
    assert detect_visits(session, catalog=services.catalog, customer_hash=who, lat=far_end[0],
                         lng=far_end[1], now=NOW, window_s=HOUR) == [outlet.id]


def test_broken_polygon_falls_back_to_the_radius(session: Session, services) -> None:  # type: ignore[no-untyped-def]
    outlet = make_outlet(session, lat=LAT, lng=LNG, geofence_radius_m=100,
                         geofence_wkt="POLYGON((not a polygon")
    session.commit()
    services.catalog.refresh()
    who = a_customer()
    _shown(session, who, outlet.id, ago_s=60)
    assert detect_visits(session, catalog=services.catalog, customer_hash=who, lat=_north(50),
                         lng=LNG, now=NOW, window_s=HOUR) == [outlet.id]


def test_closed_or_deleted_outlets_get_no_visits(session: Session, services) -> None:  # type: ignore[no-untyped-def]
    closed = make_outlet(session, lat=LAT, lng=LNG, status="temporarily_closed")
    gone = make_outlet(session, lat=LAT, lng=LNG, deleted_at=NOW)
    session.commit()
    services.catalog.refresh()
    who = a_customer()
    _shown(session, who, closed.id, ago_s=60, query="a")
    _shown(session, who, gone.id, ago_s=60, query="b")
    assert detect_visits(session, catalog=services.catalog, customer_hash=who, lat=LAT, lng=LNG,
                         now=NOW, window_s=HOUR) == []


@pytest.mark.parametrize("lat0,lng0", [(31.23, 121.47), (69.6, 18.9), (-33.9, 151.2),
                                       (0.0, 179.999)])
def test_local_projection_keeps_distances_from_the_centre(lat0: float, lng0: float) -> None:
    for bearing in range(0, 360, 45):
        b = math.radians(bearing)
        lat = lat0 + 300 / 111_195.0 * math.cos(b)
        lng = lng0 + 300 / (111_195.0 * math.cos(math.radians(lat0))) * math.sin(b)
        lng = (lng + 180) % 360 - 180
        x, y = local_xy(lat0, lng0, lat, lng)
        assert math.hypot(x, y) == pytest.approx(haversine_m(lat0, lng0, lat, lng), rel=1e-6)


def test_a_query_row_carrying_its_first_card_is_a_shown_outlet(session: Session, services,  # type: ignore[no-untyped-def]
                                                               shop) -> None:
    """The reply writes its first card's impression into the query row: that counts as shown;
    a query row without an outlet shows nothing."""
    who, other = a_customer(), a_customer()
    record_event(session, type="query", customer_hash=who, query_id="q7", outlet_id=shop.id,
                 at=NOW - timedelta(seconds=HOUR), lat=LAT, lng=LNG, dedup_key="query:q7")
    record_event(session, type="query", customer_hash=other, query_id="q8",
                 at=NOW - timedelta(seconds=HOUR), lat=LAT, lng=LNG, dedup_key="query:q8")
    assert detect_visits(session, catalog=services.catalog, customer_hash=who, lat=LAT,
                         lng=LNG, now=NOW, window_s=4 * HOUR) == [shop.id]
    assert detect_visits(session, catalog=services.catalog, customer_hash=other, lat=LAT,
                         lng=LNG, now=NOW, window_s=4 * HOUR) == []
    session.commit()
    [visit] = _visits(session)
    assert visit.query_id == "q7"
