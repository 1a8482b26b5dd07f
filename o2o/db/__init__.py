"""The database and everything that writes to it."""

from o2o.db.engine import (
    READ_ONLY,
    check_database,
    conflict_insert,
    make_engine,
    make_sessionmaker,
    read_only,
    sqlite_locked,
    transaction,
)
from o2o.db.schema import (
    INT4_MAX,
    NAMING,
    Base,
    GeoMultiPolygon,
    GeoPoint,
    GeoPolygon,
    UTCDateTime,
    point_ewkt,
    utcnow,
)

__all__ = [
    "INT4_MAX", "NAMING", "READ_ONLY", "Base", "GeoMultiPolygon", "GeoPoint", "GeoPolygon",
    "UTCDateTime", "check_database", "conflict_insert", "make_engine", "make_sessionmaker",
    "point_ewkt", "read_only", "sqlite_locked", "transaction", "utcnow",
]
