"""Event builders and one known event history whose every number is computed by hand.

Queries 1, 8 (beside A, distances 60 and 80 m), 12 (FAR) and 13 (beside C) carry positions.
The history (times UTC; Shanghai = UTC+8, Urumqi = UTC+6), range 2025-03-03 .. 2025-03-09:

  #  type        customer outlet region  UTC               local (outlet, else region zone)
  1  query       c1       -      R1      03-03 01:30       Mon 09:30
  2  impression  c1       A(P1)  R1      03-03 01:30       Mon 09:30
  3  impression  c1       B      R1      03-03 01:30       Mon 07:30 (B is on Urumqi time)
  4  click       c1       A      R1      03-03 01:35       Mon 09:35
  5  claim       c1       A P1   R1      03-03 01:36       Mon 09:36
  6  redemption  c1       A P1   R1      03-03 10:00       Mon 18:00  → visit (first proof)
  7  visit       c1       A      R1      03-03 11:00       Mon 19:00  (same day: no new visit)
  8  query       c2       -      R1      03-03 16:30       Tue 00:30 (crosses local midnight)
  9  impression  c2       A      R1      03-03 16:30       Tue 00:30
 10  visit       c2       A      R1      03-04 02:00       Tue 10:00  → visit
 11  visit       c2       A      R1      03-05 02:00       Wed 10:00  → visit (another day)
 12  query       -        -      R1      03-05 04:00       Wed 12:00  (no customer)
 13  query       c1       -      R2      03-04 03:00       Tue 11:00
 14  impression  c1       C      R2      03-04 03:00       Tue 11:00
 15  click       c1       C      R2      03-04 03:05       Tue 11:05
 16  query       c3       -      none    03-04 03:00       Tue 11:00 (nothing near: admin only)
 17  query       c1       -      R1      03-02 15:59       Sun 03-02 23:59 (before the range)
 18  query       c1       -      R1      03-09 16:30       Mon 03-10 00:30 (after the range)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from o2o.analytics.events import record_event
from o2o.catalog.models import Outlet, Promotion, Region
from o2o.customers.identity import customer_hash
from tests.factories import make_outlet, make_promotion, make_region

KEY = "test-customer-hash-key"
#: Query positions (WGS-84): two queries beside outlet A, one 50 km out at sea-side Nanhui,
#: one beside C; the out-of-range queries are at FAR too.
NEAR_A = (31.2310, 121.4740)
FAR = (31.0500, 121.9500)
NEAR_C = (23.1310, 113.3210)
FROM, TO = date(2025, 3, 3), date(2025, 3, 9)


def cust(name: str) -> str:
    return customer_hash(name, KEY)


def utc(text: str) -> datetime:
    """'03-03 01:30' in 2025, UTC."""
    return datetime.strptime(f"2025-{text}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def event(session: Session, type: str, at: datetime, *, customer: str | None = None,
          outlet: Outlet | None = None, region: Region | None = None,
          promotion: Promotion | None = None, **kw: Any) -> None:
    """One event through the real writer; the region defaults to the outlet's."""
    region_id = region.id if region is not None else (outlet.region_id if outlet else None)
    record_event(session, type=type, at=at, customer_hash=cust(customer) if customer else None,
                 outlet_id=outlet.id if outlet else None, region_id=region_id,
                 promotion_id=promotion.id if promotion else None, **kw)


@dataclass
class History:
    r1: Region
    r2: Region
    a: Outlet
    b: Outlet
    c: Outlet
    p1: Promotion


def known_catalog(session: Session) -> History:
    r1 = make_region(session, name="华东", timezone="Asia/Shanghai")
    r2 = make_region(session, name="华南", timezone="Asia/Shanghai")
    a = make_outlet(session, region=r1, name="人民广场店", code="A1", lat=31.2304, lng=121.4737)
    b = make_outlet(session, region=r1, name="西部店", code="B1", lat=31.30, lng=121.50,
                    timezone="Asia/Urumqi")
    c = make_outlet(session, region=r2, name="天河店", code="C1", lat=23.13, lng=113.32)
    p1 = make_promotion(session, outlets=[a], title="买一送一", code="P1")
    session.flush()
    return History(r1, r2, a, b, c, p1)


def known_events(session: Session, h: History, *, upto: int | None = None,
                 start: int = 1) -> None:
    """Events start..upto of the table above, in order (so ids follow the numbering)."""
    steps = [
        lambda: event(session, "query", utc("03-03 01:30"), customer="c1", region=h.r1,
                      lat=NEAR_A[0], lng=NEAR_A[1], distance_m=60.0),
        lambda: event(session, "impression", utc("03-03 01:30"), customer="c1", outlet=h.a,
                      promotion=h.p1),
        lambda: event(session, "impression", utc("03-03 01:30"), customer="c1", outlet=h.b),
        lambda: event(session, "click", utc("03-03 01:35"), customer="c1", outlet=h.a),
        lambda: event(session, "claim", utc("03-03 01:36"), customer="c1", outlet=h.a,
                      promotion=h.p1),
        lambda: event(session, "redemption", utc("03-03 10:00"), customer="c1", outlet=h.a,
                      promotion=h.p1),
        lambda: event(session, "visit", utc("03-03 11:00"), customer="c1", outlet=h.a),
        lambda: event(session, "query", utc("03-03 16:30"), customer="c2", region=h.r1,
                      lat=NEAR_A[0], lng=NEAR_A[1], distance_m=80.0),
        lambda: event(session, "impression", utc("03-03 16:30"), customer="c2", outlet=h.a),
        lambda: event(session, "visit", utc("03-04 02:00"), customer="c2", outlet=h.a),
        lambda: event(session, "visit", utc("03-05 02:00"), customer="c2", outlet=h.a),
        lambda: event(session, "query", utc("03-05 04:00"), region=h.r1, lat=FAR[0],
                      lng=FAR[1], distance_m=52000.0),
        lambda: event(session, "query", utc("03-04 03:00"), customer="c1", region=h.r2,
                      lat=NEAR_C[0], lng=NEAR_C[1], distance_m=30.0),
        lambda: event(session, "impression", utc("03-04 03:00"), customer="c1", outlet=h.c),
        lambda: event(session, "click", utc("03-04 03:05"), customer="c1", outlet=h.c),
        lambda: event(session, "query", utc("03-04 03:00"), customer="c3", lat=50.0, lng=10.0),
        lambda: event(session, "query", utc("03-02 15:59"), customer="c1", region=h.r1,
                      lat=FAR[0], lng=FAR[1], distance_m=52000.0),
        lambda: event(session, "query", utc("03-09 16:30"), customer="c1", region=h.r1,
                      lat=FAR[0], lng=FAR[1], distance_m=52000.0),
    ]
    for step in steps[start - 1:upto]:
        step()
    session.commit()


def known_history(session: Session) -> History:
    h = known_catalog(session)
    session.commit()
    known_events(session, h)
    return h
