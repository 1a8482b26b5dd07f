"""Geography: datum conversion (WGS-84 / GCJ-02 / BD-09), distances, the nearest-outlet index."""

from __future__ import annotations

from o2o.geo.datum import Datum, from_wgs84, to_wgs84
from o2o.geo.distance import (
    EARTH_RADIUS_M,
    format_distance_en,
    format_distance_zh,
    haversine_m,
    haversine_m_array,
)
from o2o.geo.index import (
    OPEN_ONLY,
    STATUSES,
    Base,
    Hit,
    IndexEntry,
    Layer,
    NearestIndex,
    StaleBase,
)
from o2o.geo.region import in_mainland_china

__all__ = [
    "EARTH_RADIUS_M",
    "OPEN_ONLY",
    "STATUSES",
    "Base",
    "Datum",
    "Hit",
    "IndexEntry",
    "Layer",
    "NearestIndex",
    "StaleBase",
    "format_distance_en",
    "format_distance_zh",
    "from_wgs84",
    "haversine_m",
    "haversine_m_array",
    "in_mainland_china",
    "to_wgs84",
]
