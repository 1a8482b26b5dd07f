"""Customers: created once even when racing, positions stored coarse and forgotten on time."""

from __future__ import annotations

import threading
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from o2o.customers.models import Customer
from o2o.customers.service import (
    forget_customer_location,
    last_location,
    purge_expired_locations,
    remember_location,
    touch_customer,
)
from o2o.db.engine import transaction
from tests.factories_loop import NOW, a_customer


def test_touch_creates_once_and_tracks_last_seen_and_subscription(session: Session) -> None:
    who = a_customer()
    first = touch_customer(session, customer_hash=who, now=NOW)
    assert first.subscribed is True and first.first_seen_at == NOW
    later = touch_customer(session, customer_hash=who, now=NOW + timedelta(hours=1),
                           subscribed=False)
    assert later.id == first.id and later.subscribed is False
    assert later.last_seen_at == NOW + timedelta(hours=1) and later.first_seen_at == NOW
    # A late-arriving older event does not move last_seen backwards.
    touch_customer(session, customer_hash=who, now=NOW)
    session.commit()
    row = session.scalars(sa.select(Customer)).one()
    assert row.last_seen_at == NOW + timedelta(hours=1) and row.subscribed is False


def test_racing_first_touches_make_one_customer(sessions: sessionmaker[Session]) -> None:
    who = a_customer()
    gate = threading.Barrier(8)
    errors: list[BaseException] = []

    def one() -> None:
        gate.wait()
        try:
            with transaction(sessions) as s:
                touch_customer(s, customer_hash=who, now=NOW)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Customer)) == 1


def test_position_is_stored_coarse_and_expires(session: Session) -> None:
    who = a_customer()
    remember_location(session, customer_hash=who, lat=31.234567, lng=121.476543, now=NOW,
                      ttl_s=600)
    session.commit()
    row = session.scalars(sa.select(Customer)).one()
    assert (row.last_lat, row.last_lng) == (31.235, 121.477)  # ~100 m, never the exact point
    assert row.reports_location is True
    assert last_location(session, customer_hash=who, now=NOW) == (31.235, 121.477)
    assert last_location(session, customer_hash=who, now=NOW + timedelta(seconds=599)) is not None
    assert last_location(session, customer_hash=who, now=NOW + timedelta(seconds=600)) is None
    assert last_location(session, customer_hash=a_customer(), now=NOW) is None


def test_unfollow_forgets_the_position(session: Session) -> None:
    who, other = a_customer(), a_customer()
    for h in (who, other):
        remember_location(session, customer_hash=h, lat=31.2, lng=121.4, now=NOW, ttl_s=600)
    forget_customer_location(session, customer_hash=who)
    session.commit()
    assert last_location(session, customer_hash=who, now=NOW) is None
    row = session.scalars(sa.select(Customer).where(Customer.customer_hash == who)).one()
    assert (row.last_lat, row.last_lng, row.last_located_at, row.reports_location) == \
        (None, None, None, False)
    assert last_location(session, customer_hash=other, now=NOW) == (31.2, 121.4)
    forget_customer_location(session, customer_hash=a_customer())  # unknown: a no-op


def test_purge_erases_only_expired_positions(session: Session) -> None:
    old, fresh = a_customer(), a_customer()
    remember_location(session, customer_hash=old, lat=31.2, lng=121.4, now=NOW, ttl_s=60)
    remember_location(session, customer_hash=fresh, lat=31.3, lng=121.5, now=NOW, ttl_s=6000)
    session.commit()
    assert purge_expired_locations(session, now=NOW + timedelta(minutes=5)) == 1
    session.commit()
    rows = {c.customer_hash: c for c in session.scalars(sa.select(Customer))}
    assert rows[old].last_lat is None and rows[old].last_located_at is None
    assert rows[fresh].last_lat == 31.3
