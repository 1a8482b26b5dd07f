"""Geofenced visits: a reported position inside an outlet the customer was just shown.

A visit is evidence, not a guess (DESIGN: honest conversion numbers): it needs the customer's
consent (WeChat sends LOCATION reports only then), an impression of that very outlet within
the window, and the position inside its geofence. It counts once per customer, outlet and
local day. The exact position is used here, in memory, and never stored.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import shapely
import sqlalchemy as sa
from shapely.errors import GEOSException
from shapely.geometry import Point
from sqlalchemy.orm import Session

from o2o.analytics.events import record_event
from o2o.analytics.models import Event, EventType

if TYPE_CHECKING:  # the runtime catalog is only passed through
    from o2o.catalog.runtime import Catalog
    from o2o.catalog.views import OutletView

log = logging.getLogger("o2o.visits")

EARTH_RADIUS_M = 6_371_008.8
#: Rows that show an outlet: impressions, and a query row with an outlet (its first card's
#: impression, `o2o.analytics.models.Event`; a query row without one names no outlet).
_SHOWN = (EventType.IMPRESSION, EventType.QUERY)
#: Segments per quarter circle of a radius geofence (a 64-gon: within 0.12% of the circle).
CIRCLE_RESOLUTION = 16


def detect_visits(session: Session, *, catalog: Catalog, customer_hash: str, lat: float,
                  lng: float, now: datetime, window_s: int) -> list[int]:
    """Record a visit for each outlet shown to this customer in the last `window_s` seconds
    whose geofence contains (lat, lng) (WGS-84); returns the outlets newly counted."""
    since = now - timedelta(seconds=window_s)
    shown = session.execute(
        sa.select(Event.outlet_id, sa.func.max(Event.occurred_at).label("at"))
        .where(Event.type.in_(_SHOWN), Event.customer_hash == customer_hash,
               Event.occurred_at >= since, Event.occurred_at <= now,
               Event.outlet_id.is_not(None))
        .group_by(Event.outlet_id)).all()
    visited: list[int] = []
    for outlet_id, shown_at in shown:
        view = catalog.outlet(outlet_id)
        if view is None or view.status != "open" or not inside_geofence(view, lat, lng):
            continue
        query_id = session.scalar(
            sa.select(Event.query_id)
            .where(Event.type.in_(_SHOWN), Event.customer_hash == customer_hash,
                   Event.outlet_id == outlet_id, Event.occurred_at == shown_at).limit(1))
        day = now.astimezone(ZoneInfo(view.timezone)).date().isoformat()
        if record_event(session, type=EventType.VISIT, customer_hash=customer_hash,
                        query_id=query_id, outlet_id=outlet_id, region_id=view.region_id,
                        at=now, dedup_key=f"visit:{customer_hash}:{outlet_id}:{day}",
                        props={"geofence": "polygon" if view.geofence_wkt else "radius"}):
            visited.append(outlet_id)
    return visited


def inside_geofence(view: OutletView, lat: float, lng: float) -> bool:
    """Is the WGS-84 point inside the outlet's polygon, or else its radius circle?"""
    polygon = _polygon(view.geofence_wkt) if view.geofence_wkt else None
    if polygon is not None:
        return bool(shapely.contains_xy(polygon, lng, lat))
    x, y = local_xy(view.lat, view.lng, lat, lng)
    return bool(shapely.contains_xy(_circle(view.geofence_radius_m), x, y))


def local_xy(lat0: float, lng0: float, lat: float, lng: float) -> tuple[float, float]:
    """Metres east/north of (lat0, lng0) in an azimuthal equidistant projection centred
    there: distances from the centre are exact great-circle distances, as a radius needs."""
    p0, p1 = math.radians(lat0), math.radians(lat)
    dl = math.radians(lng - lng0)
    cos_c = math.sin(p0) * math.sin(p1) + math.cos(p0) * math.cos(p1) * math.cos(dl)
    c = math.acos(max(-1.0, min(1.0, cos_c)))
    if c == 0.0:
        return 0.0, 0.0
    k = EARTH_RADIUS_M * c / math.sin(c)
    x = k * math.cos(p1) * math.sin(dl)
    y = k * (math.cos(p0) * math.sin(p1) - math.sin(p0) * math.cos(p1) * math.cos(dl))
    return x, y


@lru_cache(maxsize=256)
def _circle(radius_m: int) -> shapely.Geometry:
    circle = Point(0.0, 0.0).buffer(float(radius_m), quad_segs=CIRCLE_RESOLUTION)
    shapely.prepare(circle)
    return circle


@lru_cache(maxsize=4096)
def _polygon(wkt: str) -> shapely.Geometry | None:
    """The polygon of a WKT geofence, or None (use the radius) when it is not a valid area."""
    # Small polygons (a mall, a plaza) in lng/lat degrees: planar containment is exact enough.
    try:
        shape = shapely.from_wkt(wkt)
    except GEOSException:
        shape = None
    if shape is None or shape.is_empty or shape.geom_type not in ("Polygon", "MultiPolygon") \
            or not shape.is_valid:
        log.warning("outlet geofence is not a valid polygon; using its radius instead")
        return None
    shapely.prepare(shape)
    return shape
