"""Reading outlets from the database into columns, and telling whether this host's snapshot
still describes the database.

A snapshot records where it stands: the change feed's newest number and that change's row
(entity, id, time), the number of live outlets and the largest id. It is *current* when all
of these still match (a restart with nothing changed maps it and is ready at once); it can
be *caught up* when the feed still holds the same change at its number (same database, the
changes since are applied like any others); otherwise it belongs to another database or
another life of this one and is rebuilt from the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.catalog.columns import Tables
from o2o.catalog.columns_build import RowBuilder, build
from o2o.catalog.models import CatalogChange, Outlet, Region

#: What a bulk load selects: no geography, no timestamps, JSON as text (a chain has a few
#: distinct timetables and tag sets; each is decoded and compiled once, not per outlet).
VIEW_COLUMNS = (Outlet.id, Outlet.code, Outlet.name, Outlet.address, Outlet.city,
                Outlet.district, Outlet.phone, Outlet.lat, Outlet.lng, Outlet.timezone,
                Outlet.region_id, sa.type_coerce(Outlet.status, sa.String).label("status"),
                Outlet.reopen_on,
                sa.cast(Outlet.hours, sa.Text).label("hours"),
                sa.cast(Outlet.exceptions, sa.Text).label("exceptions"),
                sa.cast(Outlet.tags, sa.Text).label("tags"), Outlet.image_url,
                Outlet.geofence_radius_m, Outlet.geofence_wkt)
LIVE = Outlet.deleted_at.is_(None)


def regions(session: Session) -> dict[int, tuple[str, str]]:
    return {r.id: (r.code, r.name) for r in session.execute(
        sa.select(Region.id, Region.code, Region.name))}


def rows(session: Session, where: sa.ColumnElement[bool]) -> Iterator[Any]:
    """Stored outlet rows matching `where`, streamed."""
    return iter(session.execute(sa.select(*VIEW_COLUMNS).where(where)
                                .execution_options(yield_per=10_000)))


def raw_rows(session: Session, where: sa.ColumnElement[bool]) -> Iterator[Any]:
    """Like `rows`, straight from the driver's cursor (tuples, no per-row processing: a
    full load reads a million of them); on PostgreSQL a server-side cursor, so the rows are
    not all held in memory at once."""
    conn = session.connection()
    sql = str(sa.select(*VIEW_COLUMNS).where(where).compile(
        dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    driver = conn.connection.dbapi_connection
    assert driver is not None
    server_side = conn.dialect.name == "postgresql"
    cursor = driver.cursor(name="o2o_catalog_load") if server_side else driver.cursor()  # type: ignore[call-arg]
    try:
        cursor.execute(sql)
        while batch := cursor.fetchmany(10_000):
            yield from batch
    finally:
        cursor.close()


def read_all(session: Session, skip: Callable[[Any, Exception], None]) -> RowBuilder:
    """Every live outlet as columns, with fresh tables."""
    tables = Tables(regions=regions(session))
    return build(raw_rows(session, LIVE), tables, skip)


def position(session: Session, seq: int) -> dict[str, Any]:
    """Where the database stands at change `seq` (see the module docstring)."""
    tip = session.execute(sa.select(CatalogChange.entity, CatalogChange.entity_id,
                                    CatalogChange.at).where(CatalogChange.seq == seq)).first()
    count, top = session.execute(sa.select(sa.func.count(), sa.func.max(Outlet.id))
                                 .where(LIVE)).one()
    return {"seq": seq, "tip": None if tip is None else [tip[0], tip[1], tip[2].isoformat()],
            "outlets": count, "max_id": top}


def verdict(meta: dict[str, Any], session: Session, seq: int) -> str:
    """"current", "catch up" or "rebuild" for a snapshot's meta against the database at
    its newest change `seq`."""
    stood = meta.get("position") or {}
    if stood.get("seq", -1) > seq:
        return "rebuild"
    now = position(session, stood["seq"])
    if now["tip"] != stood.get("tip"):
        return "rebuild"
    if stood["seq"] == seq:
        return "current" if now == stood else "rebuild"
    return "catch up" if stood.get("tip") is not None else "rebuild"
