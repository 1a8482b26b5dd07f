"""Customers as keyed hashes: first/last seen, subscription, and a coarse, expiring position."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, partial

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.customers.identity import coarsen
from o2o.customers.models import Customer
from o2o.db.engine import conflict_insert
from o2o.db.prepared import prepared


def touch_customer(session: Session, *, customer_hash: str, now: datetime,
                   subscribed: bool | None = None) -> Customer:
    """The customer row for this hash, created on first sight; notes when they were last seen
    and, when given, whether they follow the account. Safe against a concurrent first touch."""
    customer = _get(session, customer_hash)
    if customer is None:
        customer = Customer(customer_hash=customer_hash, first_seen_at=now, last_seen_at=now,
                            subscribed=True if subscribed is None else subscribed,
                            reports_location=False)
        try:
            with session.begin_nested():
                session.add(customer)
        except sa.exc.IntegrityError:
            # Another worker created the same customer a moment ago: use theirs.
            customer = _get(session, customer_hash)
            if customer is None:
                raise
    if customer.last_seen_at is None or customer.last_seen_at < now:
        customer.last_seen_at = now
    if subscribed is not None:
        customer.subscribed = subscribed
    session.flush()
    return customer


def _get(session: Session, customer_hash: str) -> Customer | None:
    return session.scalar(sa.select(Customer).where(Customer.customer_hash == customer_hash))


def remember_location(session: Session, *, customer_hash: str, lat: float, lng: float,
                      now: datetime, ttl_s: int, reported: bool = True) -> Customer:
    """Keep the last position, coarsened to ~100 m and expiring after `ttl_s`, for the
    "附近门店" menu; the exact position is never stored. `reported` says it came from
    WeChat's periodic LOCATION report (the customer enabled it), not a shared location."""
    customer = touch_customer(session, customer_hash=customer_hash, now=now)
    customer.last_lat, customer.last_lng = coarsen(lat, lng)
    customer.last_located_at = now
    customer.location_expires_at = now + timedelta(seconds=ttl_s)
    if reported:
        customer.reports_location = True
    session.flush()
    return customer


@dataclass(frozen=True, slots=True)
class LastPosition:
    """A stored (coarse, WGS-84) position and when it was shared or reported."""

    lat: float
    lng: float
    at: datetime


def last_position(session: Session, *, customer_hash: str, now: datetime) -> LastPosition | None:
    """The coarse last position while it is fresh; None when unknown or expired."""
    row = session.execute(
        sa.select(Customer.last_lat, Customer.last_lng, Customer.last_located_at,
                  Customer.location_expires_at)
        .where(Customer.customer_hash == customer_hash)).first()
    if row is None or row.last_lat is None or row.last_lng is None:
        return None
    if row.location_expires_at is None or row.location_expires_at <= now:
        return None
    return LastPosition(row.last_lat, row.last_lng, row.last_located_at or now)


def last_location(session: Session, *, customer_hash: str,
                  now: datetime) -> tuple[float, float] | None:
    """The coarse last position (WGS-84) while it is fresh; None when unknown or expired."""
    known = last_position(session, customer_hash=customer_hash, now=now)
    return None if known is None else (known.lat, known.lng)


def forget_customer_location(session: Session, *, customer_hash: str) -> None:
    """Drop the stored position at once (unfollow): nothing about where they were remains."""
    session.execute(
        sa.update(Customer).where(Customer.customer_hash == customer_hash)
        .values(last_lat=None, last_lng=None, last_located_at=None, location_expires_at=None,
                reports_location=False))


def purge_expired_locations(session: Session, *, now: datetime) -> int:
    """Erase positions past their expiry (retention job); returns how many were erased."""
    result = session.execute(
        sa.update(Customer).where(Customer.location_expires_at <= now)
        .values(last_lat=None, last_lng=None, last_located_at=None, location_expires_at=None))
    return result.rowcount or 0


def query_values(*, customer_hash: str, now: datetime, lat: float | None = None,
                 lng: float | None = None, ttl_s: int | None = None) -> dict[str, object]:
    """The customer row a query leaves behind (for `upsert_customers`): seen now and, when
    given, the coarse position (a shared location is not consent to location reports)."""
    values: dict[str, object] = {"customer_hash": customer_hash, "first_seen_at": now,
                                 "last_seen_at": now, "subscribed": True,
                                 "reports_location": False}
    if lat is not None and lng is not None and ttl_s is not None:
        clat, clng = coarsen(lat, lng)
        values.update(last_lat=clat, last_lng=clng, last_located_at=now,
                      location_expires_at=now + timedelta(seconds=ttl_s))
    return values


#: What a later query changes on an existing customer (first sight and consent stay).
_KEEP_ON_CONFLICT = frozenset({"customer_hash", "first_seen_at", "subscribed",
                               "reports_location"})


def upsert_customers(conn: sa.Connection, rows: list[dict[str, object]]) -> None:
    """Create or touch many customers (`query_values` rows, at most one per hash) in one
    statement per row shape; a customer seen by two workers at once is simply touched."""
    shapes: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for row in rows:
        shapes.setdefault(tuple(sorted(row)), []).append(row)
    dialect = conn.dialect.name
    for columns, group in shapes.items():
        build = partial(_upsert_stmt, dialect, columns)
        prepared(conn, "customers", build, columns).executemany(conn, group)


@cache
def _upsert_stmt(dialect: str, columns: tuple[str, ...]) -> sa.Insert:
    table = Customer.__table__
    stmt = conflict_insert(dialect, table)  # Core: one executemany, not a statement per row
    update = {c: stmt.excluded[c] for c in columns if c not in _KEEP_ON_CONFLICT}
    # A push written late (another worker's batch) never moves last_seen backwards.
    latest = sa.func.greatest if dialect == "postgresql" else sa.func.max  # SQLite: scalar max
    update["last_seen_at"] = latest(table.c.last_seen_at, stmt.excluded.last_seen_at)
    return stmt.on_conflict_do_update(index_elements=["customer_hash"], set_=update)
