"""Append-only, durable event writes: every step of the funnel goes through record_event."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import cache, partial
from typing import Any

import h3
import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.models import Event, EventType
from o2o.customers.identity import coarsen
from o2o.db.engine import conflict_insert
from o2o.db.prepared import prepared
from o2o.db.schema import utcnow

log = logging.getLogger("o2o.events")

#: H3 resolution of the demand grid: res 8 cells are ~0.74 km² (edge ~460 m).
DEMAND_RES = 8


def record_event(
    session: Session,
    *,
    type: EventType | str,
    customer_hash: str | None = None,
    query_id: str | None = None,
    outlet_id: int | None = None,
    promotion_id: int | None = None,
    region_id: int | None = None,
    lat: float | None = None,
    lng: float | None = None,
    distance_m: float | None = None,
    dedup_key: str | None = None,
    channel: str = "wechat",
    props: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> bool:
    """Add one event in the caller's transaction; False if `dedup_key` was already recorded.

    Positions are coarsened here (~100 m) and given their demand cell, so no caller can
    store an exact position by mistake. The duplicate check uses a savepoint, so a repeat
    never aborts the caller's transaction.
    """
    event = Event(**event_row(
        type=type, customer_hash=customer_hash, query_id=query_id, outlet_id=outlet_id,
        promotion_id=promotion_id, region_id=region_id, lat=lat, lng=lng, distance_m=distance_m,
        dedup_key=dedup_key, channel=channel, props=props, at=at))
    if dedup_key is None:
        session.add(event)
        session.flush()
        return True
    if session.scalar(sa.select(Event.id).where(Event.dedup_key == dedup_key)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(event)
    except sa.exc.IntegrityError:
        # A concurrent writer recorded the same step first: it counts once.
        return False
    return True


def event_row(*, type: EventType | str, lat: float | None = None, lng: float | None = None,
              distance_m: float | None = None, props: dict[str, Any] | None = None,
              at: datetime | None = None, **fields: Any) -> dict[str, Any]:
    """The stored form of one event: position coarsened (~100 m) with its demand cell."""
    clat = clng = cell = None
    if lat is not None and lng is not None:
        clat, clng = coarsen(lat, lng)
        cell = h3.latlng_to_cell(lat, lng, DEMAND_RES)
    row = {"customer_hash": None, "query_id": None, "outlet_id": None, "promotion_id": None,
           "region_id": None, "dedup_key": None, "channel": "wechat", **fields}
    row.update(occurred_at=at or utcnow(), type=EventType(type), lat=clat, lng=clng, cell=cell,
               distance_m=None if distance_m is None else round(distance_m, 1),
               props=props or {})
    return row


def insert_events(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert many `event_row`s in one statement; rows whose dedup_key is already recorded
    are skipped by the database (ON CONFLICT DO NOTHING), never raised. This is the reply
    path's writer (o2o.db.writer batches the rows of many pushes into one call)."""
    if rows:
        build = partial(_insert_events_stmt, conn.dialect.name)
        prepared(conn, "events", build, _ROW_COLUMNS).executemany(conn, rows)


#: The columns of every `event_row` (all but the id), in a fixed order.
_ROW_COLUMNS = tuple(c.key for c in Event.__table__.columns if c.key != "id")


@cache
def _insert_events_stmt(dialect: str) -> sa.Insert:
    # Core on the table, not the ORM entity: one executemany instead of a statement per row.
    return conflict_insert(dialect, Event.__table__) \
        .on_conflict_do_nothing(index_elements=["dedup_key"])
