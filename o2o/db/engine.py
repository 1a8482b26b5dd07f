"""Engines, sessions and transactions, with the per-dialect settings this project relies on.

SQLite runs in WAL mode and begins every writing transaction with BEGIN IMMEDIATE; a
transaction declared read-only (`read_only`) takes no write lock there.
"""

from __future__ import annotations

import sqlite3
import sys
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from o2o.errors import ConfigError, ServiceUnavailable


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


def sqlite_in_memory(engine: Engine) -> bool:
    """Whether `engine` is an in-memory SQLite database: private to its process (no other
    process can open it) and without a WAL."""
    database = engine.url.database or ""
    return engine.dialect.name == "sqlite" and (
        database in ("", ":memory:") or database.startswith("file::memory:")
        or engine.url.query.get("mode") == "memory")


def sqlite_locked(exc: BaseException) -> bool:
    """Whether `exc` is SQLite saying the database is locked (busy) by another connection."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    code = getattr(orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def unavailable(exc: BaseException) -> bool:
    """Whether a failed write says the database is unavailable, not that the rows are bad:
    SQLite still locked when its busy timeout ran out or its disk full ("database or disk is
    full", or the I/O error a write into a full WAL can give), or PostgreSQL unreachable or its
    connection lost (OperationalError; constraint and type errors are other classes).

    Raised through SQLAlchemy or straight from the driver: the hottest writes run on the
    DB-API cursor (`o2o.db.prepared`), whose errors SQLAlchemy never wraps."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    if not (isinstance(exc, sa.exc.OperationalError) or _driver_operational(orig)):
        return False
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:  # a missing table is an OperationalError too
        return sqlite_locked(orig) or code & 0xFF in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)
    return True


def _driver_operational(exc: BaseException) -> bool:
    """A DB-API OperationalError of SQLite's or psycopg's driver (psycopg only if loaded)."""
    psycopg = sys.modules.get("psycopg")
    return isinstance(exc, sqlite3.OperationalError) or (
        psycopg is not None and isinstance(exc, psycopg.OperationalError))


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
