"""Region boundaries: parse WKT or GeoJSON, check them, store and read them on both backends.

A boundary is WGS-84 longitude/latitude, one Polygon or a MultiPolygon, valid in the OGC sense
(no self-intersection, closed rings). It is stored as a MultiPolygon: PostGIS geography, or
EWKT text on SQLite. Point-in-boundary is planar on (lng, lat) with shapely on both backends,
so the answer does not depend on the database (PostGIS geography would draw edges as great
circles and disagree near long edges).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, mapping, shape

from o2o.errors import ValidationError

#: Vertices accepted in one boundary: a detailed province outline has a few thousand.
MAX_POINTS = 100_000
_KINDS = ("Polygon", "MultiPolygon")


def _problem(message: str, field: str = "boundary") -> ValidationError:
    return ValidationError(f"{field}: {message}", details=[{"field": field, "message": message}])


def _from_text(text: str, field: str) -> Any:
    text = text.strip()
    if text.startswith("{"):
        try:
            return _from_geojson(json.loads(text), field)
        except json.JSONDecodeError as exc:
            raise _problem(f"not valid JSON (position {exc.pos}: {exc.msg})", field) from None
    if text.upper().startswith("SRID="):
        srid, _, text = text.partition(";")
        if srid.strip().upper() != "SRID=4326":
            raise _problem(f"{srid.strip()} is not WGS-84; send SRID=4326 or plain WKT", field)
    try:
        return shapely.from_wkt(text)
    except shapely.errors.ShapelyError as exc:
        reason = str(exc).splitlines()[0][:120]
        raise _problem(f"neither WKT nor GeoJSON ({reason}); e.g. POLYGON((lng lat, ...))",
                       field) from None


def _from_geojson(doc: Any, field: str) -> Any:
    if not isinstance(doc, dict):
        raise _problem("GeoJSON must be an object with a type", field)
    if doc.get("type") == "FeatureCollection":  # a file with the one region drawn in it
        features = doc.get("features")
        if not isinstance(features, list) or len(features) != 1:
            raise _problem("a FeatureCollection here must hold exactly one feature", field)
        doc = features[0] if isinstance(features[0], dict) else {}
    if doc.get("type") == "Feature":
        doc = doc.get("geometry")
        if not isinstance(doc, dict):
            raise _problem("the Feature has no geometry", field)
    if doc.get("type") not in _KINDS:
        raise _problem(f"must be a Polygon or MultiPolygon, got {doc.get('type')!r}", field)
    try:
        return shape(doc)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError,
            shapely.errors.ShapelyError) as exc:
        raise _problem(f"GeoJSON coordinates are malformed ({str(exc)[:80]})", field) from None


def parse_boundary(value: str | dict[str, Any], *, field: str = "boundary") -> MultiPolygon:
    """A checked boundary from WKT (optionally EWKT with SRID=4326), GeoJSON text or a GeoJSON
    geometry or Feature; ValidationError (one field problem) for anything else."""
    geom = _from_text(value, field) if isinstance(value, str) else _from_geojson(value, field)
    if geom is None or geom.geom_type not in _KINDS:
        kind = geom.geom_type if geom is not None else "nothing"
        raise _problem(f"must be a Polygon or MultiPolygon, got {kind}", field)
    if geom.is_empty:
        raise _problem("is empty", field)
    geom = shapely.force_2d(geom)
    coords = shapely.get_coordinates(geom)
    if len(coords) > MAX_POINTS:
        raise _problem(f"has {len(coords)} vertices; at most {MAX_POINTS} (simplify it)", field)
    if not np.isfinite(coords).all():
        raise _problem("has coordinates that are not finite numbers", field)
    lng, lat = coords[:, 0], coords[:, 1]
    if (np.abs(lng) > 180).any() or (np.abs(lat) > 90).any():
        hint = " (lat and lng swapped? WKT and GeoJSON put longitude first)" \
            if (np.abs(lng) <= 90).all() and (np.abs(lat) <= 180).all() else ""
        raise _problem(f"coordinates must be longitude -180..180 and latitude -90..90 "
                       f"(WGS-84){hint}", field)
    if not geom.is_valid:
        raise _problem(f"not a valid polygon: {shapely.is_valid_reason(geom)}", field)
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


def to_column(geom: MultiPolygon | None) -> str | None:
    """What the boundary column takes on either backend: EWKT at full precision."""
    if geom is None:
        return None
    return "SRID=4326;" + shapely.to_wkt(geom, rounding_precision=-1)


def from_column(value: Any) -> MultiPolygon | None:
    """The stored boundary as shapely: EWKT text (SQLite) or a GeoAlchemy2 element (PostGIS)."""
    if value is None:
        return None
    if isinstance(value, str):
        return shapely.from_wkt(value.partition(";")[2] if value.startswith("SRID=") else value)
    from geoalchemy2.shape import to_shape

    return to_shape(value)


def as_geojson(geom: MultiPolygon | None) -> dict[str, Any] | None:
    """GeoJSON for people and front ends; a one-piece boundary reads back as a Polygon."""
    if geom is None:
        return None
    if isinstance(geom, MultiPolygon) and len(geom.geoms) == 1:
        geom = geom.geoms[0]
    return mapping(geom)


def covered(geom: MultiPolygon, lngs: Any, lats: Any) -> np.ndarray:
    """Which of these WGS-84 points lie inside the boundary or on its edge (vectorised)."""
    shapely.prepare(geom)
    return shapely.covers(geom, shapely.points(np.asarray(lngs, float), np.asarray(lats, float)))


__all__ = ["MAX_POINTS", "as_geojson", "covered", "from_column", "parse_boundary",
           "to_column"]
