"""Retention: positions older than the retention age are erased; numbers are not.

Events keep their pseudonymous customer hash, H3 demand cell and recorded distance, and
are folded into funnel cells first, so every funnel, heat table and demand grid of a past
month reads the same after a purge. What goes is where anyone was: the coarse lat/lng of
old events and customers' last-known positions past their expiry or the retention age.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.models import Event
from o2o.analytics.rollup import RollupReport, roll_up
from o2o.customers.models import Customer
from o2o.errors import ValidationError

log = logging.getLogger("o2o.analytics")

CHUNK = 20_000


@dataclass(frozen=True, slots=True)
class PurgeReport:
    cutoff: datetime
    events_cleared: int
    customers_cleared: int
    rollup: RollupReport | None
    dry_run: bool


def purge(session: Session, *, retention_days: int, now: datetime | None = None,
          dry_run: bool = False) -> PurgeReport:
    """Fold new events into cells, then erase positions older than `retention_days`."""
    if retention_days < 1:
        raise ValidationError("retention must be at least one day",
                              details=[{"field": "days", "message": ">= 1"}])
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=retention_days)
    old_event = sa.and_(Event.occurred_at < cutoff,
                        sa.or_(Event.lat.is_not(None), Event.lng.is_not(None)))
    stale_customer = sa.and_(
        sa.or_(Customer.last_lat.is_not(None), Customer.last_lng.is_not(None),
               Customer.last_located_at.is_not(None)),
        sa.or_(Customer.location_expires_at.is_(None), Customer.location_expires_at <= now,
               Customer.last_located_at.is_(None), Customer.last_located_at < cutoff))
    if dry_run:
        events = session.scalar(sa.select(sa.func.count()).where(old_event)) or 0
        customers = session.scalar(sa.select(sa.func.count()).where(stale_customer)) or 0
        session.rollback()
        return PurgeReport(cutoff, events, customers, None, True)
    rollup = roll_up(session)
    events = 0
    while True:
        ids = sa.select(Event.id).where(old_event).limit(CHUNK).scalar_subquery()
        done = session.execute(sa.update(Event).where(Event.id.in_(ids))
                               .values(lat=None, lng=None)
                               .execution_options(synchronize_session=False)).rowcount or 0
        session.commit()
        events += done
        if done < CHUNK:
            break
    customers = session.execute(
        sa.update(Customer).where(stale_customer)
        .values(last_lat=None, last_lng=None, last_located_at=None, location_expires_at=None)
        .execution_options(synchronize_session=False)).rowcount or 0
    session.commit()
    log.info("purge: positions erased from %d events and %d customers (before %s)",
             events, customers, cutoff.isoformat())
    return PurgeReport(cutoff, events, customers, rollup, False)
