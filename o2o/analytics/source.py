"""Where a query's cells come from: stored cells plus the un-rolled tail, or raw events.

Both paths go through the same aggregator, so they give the same numbers; the stored path
is the fast one. Reads run in one snapshot (REPEATABLE READ on PostgreSQL) so a rollup
committing mid-query can neither double-count nor drop the events it moves.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.analytics.aggregate import build_cells, event_select, rows_of
from o2o.analytics.cells import Cell, CellKey, CellRow, decode_keys
from o2o.analytics.models import Event
from o2o.analytics.rollup import rolled_up_to
from o2o.analytics.rollup_models import FunnelCell
from o2o.analytics.scope import Scope
from o2o.analytics.zones import ZoneBook, widened_utc_range


def begin_snapshot(session: Session) -> None:
    """Make the coming reads one consistent snapshot (a fresh session on PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def collect_cells(session: Session, *, grain: str, regions: Scope, date_from: date,
                  date_to: date, outlet_id: int | None = None, types: tuple[str, ...] = (),
                  by: tuple[str, ...] | None = None, raw: bool = False) -> list[CellRow]:
    """Cells of `grain` whose local day is in [date_from, date_to], within the regions.

    Stored and tail cells may share a key: readers add counts and unite customer sets, so
    nothing is merged here. `by` names the only cell fields the reader groups on (day,
    hour, region_id, outlet_id, promotion_id); PostgreSQL then pre-groups the stored cells,
    the other fields of those rows are None and their key arrays may repeat a customer."""
    begin_snapshot(session)
    zones = ZoneBook.load(session)
    if raw:
        rows = _events(session, regions, date_from, date_to, outlet_id, min_id=0)
        return _in_range(build_cells(session, rows, zones=zones, grains=(grain,)),
                         date_from, date_to, types)
    top = rolled_up_to(session)
    cells = _stored(session, grain, regions, date_from, date_to, outlet_id, types, by)
    tail = _events(session, regions, date_from, date_to, outlet_id, min_id=top)
    if tail:
        built = build_cells(session, tail, zones=zones, grains=(grain,))
        cells.extend(_in_range(built, date_from, date_to, types))
    return cells


def _in_range(cells: dict[CellKey, Cell], date_from: date, date_to: date,
              types: tuple[str, ...]) -> list[CellRow]:
    return [CellRow(k.day, k.hour, k.type, k.region_id, k.outlet_id, k.promotion_id, c.count,
                    c.keys())
            for k, c in cells.items()
            if date_from <= k.day <= date_to and (not types or k.type in types)]


def _stored(session: Session, grain: str, regions: Scope, date_from: date, date_to: date,
            outlet_id: int | None, types: tuple[str, ...],
            by: tuple[str, ...] | None) -> list[CellRow]:
    where = [FunnelCell.grain == grain, FunnelCell.day >= date_from, FunnelCell.day <= date_to]
    if regions is not None:
        where.append(FunnelCell.region_id.in_(sorted(regions)))
    if outlet_id is not None:
        where.append(FunnelCell.outlet_id == outlet_id)
    if types:
        where.append(FunnelCell.type.in_(types))
    if by is not None and session.get_bind().dialect.name == "postgresql":
        return _pregrouped(session, where, by)
    stmt = sa.select(FunnelCell.day, FunnelCell.hour, FunnelCell.type, FunnelCell.region_id,
                     FunnelCell.outlet_id, FunnelCell.promotion_id, FunnelCell.count,
                     FunnelCell.customers).where(*where)
    return [CellRow(*r[:7], decode_keys(r[7])) for r in _fetch_binary(session, stmt)]


def _pregrouped(session: Session, where: list[Any], by: tuple[str, ...]) -> list[CellRow]:
    """One row per (by..., type): counts summed and key arrays concatenated in the database,
    so a region's 90 days arrive as hundreds of rows instead of tens of thousands."""
    cols = [getattr(FunnelCell, name) for name in by]
    joined = sa.func.string_agg(FunnelCell.customers,
                                sa.bindparam("nothing", b"", type_=sa.LargeBinary))
    stmt = sa.select(*cols, FunnelCell.type, sa.func.sum(FunnelCell.count), joined) \
        .where(*where).group_by(*cols, FunnelCell.type)
    out = []
    for row in _fetch_binary(session, stmt):
        fields = dict.fromkeys(("day", "hour", "region_id", "outlet_id", "promotion_id"))
        fields.update(zip(by, row[:len(by)], strict=True))
        typ, count, blob = row[len(by):]
        out.append(CellRow(fields["day"], fields["hour"], typ, fields["region_id"],
                           fields["outlet_id"], fields["promotion_id"], int(count),
                           decode_keys(blob)))
    return out


def _fetch_binary(session: Session, stmt: sa.Select[Any]) -> list[Any]:
    """All rows; on PostgreSQL in binary format, so the customer sets arrive as raw bytes
    instead of hex text (half the bytes, no decoding: ~40% faster on large ranges)."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return list(conn.execute(stmt).all())
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    with conn.connection.dbapi_connection.cursor(binary=True) as cur:  # type: ignore[union-attr]
        cur.execute(str(compiled), compiled.params)
        return cur.fetchall()


def _events(session: Session, regions: Scope, date_from: date, date_to: date,
            outlet_id: int | None, *, min_id: int) -> list:
    lo, hi = widened_utc_range(date_from, date_to)
    stmt = event_select().where(Event.occurred_at >= lo, Event.occurred_at < hi)
    if min_id:
        stmt = stmt.where(Event.id > min_id)
    if regions is not None:
        stmt = stmt.where(Event.region_id.in_(sorted(regions)))
    if outlet_id is not None:
        stmt = stmt.where(Event.outlet_id == outlet_id)
        # A query row found by its outlet stands for that outlet's impression only: the
        # query itself has no outlet (rows_of), as before the two were one row.
        return [r for r in rows_of(session.connection().execute(stmt)) if r.type != "query"]
    return rows_of(session.connection().execute(stmt))
