"""Engine, sessions, the declarative base and the spatial column type.

PostgreSQL gets `geography(Point,4326)` with a GiST index (GeoAlchemy2); embedded SQLite
stores the same point as EWKT text and is served by the in-memory nearest index.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from geoalchemy2 import Geography
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from o2o.errors import ConfigError, ServiceUnavailable

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


def conflict_insert(dialect: str, table: sa.Table) -> Any:
    """An INSERT on `table` that can take ON CONFLICT clauses, for "postgresql" or SQLite."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the per-dialect settings this project relies on."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                                  **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Autocommit at the driver so that _sqlite_begin_immediate owns transaction start.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


#: Execution option of connections whose transactions only read (see `read_only`).
READ_ONLY = "o2o_read_only"


def _sqlite_begin_immediate(conn: sa.Connection) -> None:
    # BEGIN IMMEDIATE takes the write lock up front: concurrent read-then-write transactions
    # (coupon redemption, optimistic locking) serialise instead of failing with SQLITE_BUSY.
    # A transaction declared read-only takes no lock: in WAL mode it reads its snapshot
    # while writers go on.
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def sqlite_locked(exc: BaseException) -> bool:
    """Whether `exc` is SQLite saying the database is locked (busy) by another connection."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    code = getattr(orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def unavailable(exc: BaseException) -> bool:
    """Whether a failed write says the database is unavailable, not that the rows are bad:
    SQLite still locked when its busy timeout ran out or its disk full ("database or disk is
    full", or the I/O error a write into a full WAL can give), or PostgreSQL unreachable or its
    connection lost (SQLAlchemy's OperationalError; constraint and type errors are other
    classes)."""
    if not isinstance(exc, sa.exc.OperationalError):
        return False
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if code is not None:  # a missing table is an OperationalError too
        return sqlite_locked(exc) or code & 0xFF in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)
    return True


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def read_only(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions for work that only reads: on SQLite their transactions do not take the
    write lock, so a long read (the catalog reloading 1M outlets) never holds up writers,
    and never waits for them. Writing through one is refused on PostgreSQL; on SQLite it
    may fail with "database is locked" when another transaction writes."""
    found = _read_only.get(sessions)
    if found is None:
        engine: Engine = sessions.kw["bind"]
        found = _read_only[sessions] = sessionmaker(bind=engine.execution_options(
            **{READ_ONLY: True, "postgresql_readonly": True}), expire_on_commit=False)
    return found


_read_only: weakref.WeakKeyDictionary[sessionmaker[Session], sessionmaker[Session]] = \
    weakref.WeakKeyDictionary()


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def check_database(engine: Engine) -> None:
    """Fail with one clear sentence when the database cannot serve this app."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            if engine.dialect.name == "postgresql":
                has = conn.execute(
                    sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
                ).first()
                if has is None:
                    raise ConfigError(
                        f"The database {engine.url.render_as_string(hide_password=True)} has no "
                        "PostGIS extension: run CREATE EXTENSION postgis; as a superuser."
                    )
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ServiceUnavailable(
            f"Cannot reach the database {engine.url.render_as_string(hide_password=True)}: "
            f"{reason}"
        ) from exc
