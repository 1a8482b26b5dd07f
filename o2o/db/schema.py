"""The declarative base and what every package's models share: column types, clock, bounds.

PostgreSQL gets `geography(Point,4326)` with a GiST index (GeoAlchemy2); embedded SQLite
stores the same point as EWKT text and is served by the in-memory nearest index.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from geoalchemy2 import Geography
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

#: The largest value a PostgreSQL INTEGER column (our ids, counts) holds; inputs are bounded
#: by it so an oversized number is a validation error, never a driver overflow.
INT4_MAX = 2**31 - 1

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base shared by every package's models."""

    metadata = sa.MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    """Aware UTC now; the single clock default for timestamps."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite drops tzinfo)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _Spatial(sa.types.TypeDecorator):
    """GeoAlchemy2 geography on PostgreSQL, EWKT text on SQLite (no SpatiaLite here)."""

    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect | None) -> Any:
        if dialect is not None and dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        return self.impl_instance


class GeoPoint(_Spatial):
    impl = Geography("POINT", srid=4326, spatial_index=True)


class GeoPolygon(_Spatial):
    impl = Geography("POLYGON", srid=4326, spatial_index=True)


class GeoMultiPolygon(_Spatial):
    """Region boundaries: one or several polygons (migration 0005 widened POLYGON)."""

    impl = Geography("MULTIPOLYGON", srid=4326, spatial_index=True)


def point_ewkt(lat: float, lng: float) -> str:
    """EWKT for a WGS-84 point; note WKT's (x=lng, y=lat) order."""
    return f"SRID=4326;POINT({lng!r} {lat!r})"
