"""SQLite upsert: compare in Python against the stored rows, write with executemany.

Everything goes through the driver cursor in the caller's transaction: SQLAlchemy's per-row
parameter handling costs more than SQLite's own work at 100k rows. Values are compared and
written in their stored form (dates and timestamps converted by the column types' own bind
processors, JSON as the text the JSON type writes), so a row read back compares equal to
the same record. A JSON mismatch is then compared as values: key order, spacing and tag
order never count as a change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from o2o.catalog.importer.load_common import COLUMNS, JSON_COLUMNS, Encoder, ImportSummary
from o2o.catalog.importer.records import OutletRecord
from o2o.catalog.models import Outlet
from o2o.db.schema import point_ewkt

__all__ = ["upsert"]

_CHUNK = 500  # codes per IN (...): well under SQLite's parameter limit
_TABLE = Outlet.__table__
_JSON_AT = {COLUMNS.index(name): name for name in JSON_COLUMNS}
_REOPEN_AT = COLUMNS.index("reopen_on")
_NAMES = ", ".join(COLUMNS)
_INSERT = (f"INSERT INTO outlets ({_NAMES}, location, version, created_at, updated_at) "
           f"VALUES ({', '.join('?' * len(COLUMNS))}, ?, 1, ?, ?)")
_UPDATE = (f"UPDATE outlets SET {', '.join(f'{c} = ?' for c in COLUMNS[1:])}, location = ?, "
           "version = version + 1, updated_at = ?, deleted_at = NULL WHERE id = ?")
_FEED = "INSERT INTO catalog_changes (entity, entity_id, at) VALUES ('outlet', ?, ?)"


def _processor(column: str, dialect: sa.Dialect) -> Callable[[Any], Any]:
    """The column type's own Python → stored-value conversion (identity when it has none)."""
    process = _TABLE.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    return process or (lambda value: value)


def _existing(conn: sa.Connection, codes: list[str]) -> dict[str, tuple[Any, ...]]:
    """code → (id, *COLUMNS as stored, deleted_at) for the codes already in the table."""
    found: dict[str, tuple[Any, ...]] = {}
    for i in range(0, len(codes), _CHUNK):
        part = codes[i:i + _CHUNK]
        rows = conn.exec_driver_sql(
            f"SELECT id, {_NAMES}, deleted_at FROM outlets "
            f"WHERE code IN ({', '.join('?' * len(part))})", tuple(part))
        found.update((row[1], tuple(row)) for row in rows)
    return found


def _same_json(stored: str | None, new: str, *, as_set: bool) -> bool:
    if stored == new:
        return True
    old = json.loads(stored) if stored is not None else None
    value = json.loads(new)
    if as_set:
        return sorted(old or ()) == value
    return old == value


def _differs(old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    """Whether writing `new` (stored form, COLUMNS order) changes the row `old` (_existing)."""
    if old[-1] is not None:  # soft-deleted: the file lists it again, so it is back
        return True
    if old[1:-1] == new:
        return False
    for i, value in enumerate(new):
        stored = old[i + 1]
        if stored == value:
            continue
        name = _JSON_AT.get(i)
        if name is None or not _same_json(stored, value, as_set=name == "tags"):
            return True
    return False


def upsert(conn: sa.Connection, records: list[OutletRecord], region_ids: dict[str, int], *,
           dry_run: bool, now: datetime) -> ImportSummary:
    """Classify every record against the table, then insert and update in executemany."""
    dialect = conn.dialect
    stored_date, stored_now = _processor("reopen_on", dialect), \
        _processor("updated_at", dialect)(now)
    existing = _existing(conn, [r.code for r in records])
    enc = Encoder(region_ids)
    created: list[tuple[Any, ...]] = []
    updated: list[tuple[Any, ...]] = []
    for rec in records:
        values = enc.values(rec)
        if rec.reopen_on is not None:
            values = (*values[:_REOPEN_AT], stored_date(rec.reopen_on), *values[_REOPEN_AT + 1:])
        old = existing.get(rec.code)
        if old is None:
            created.append((*values, point_ewkt(rec.lat, rec.lng), stored_now, stored_now))
        elif _differs(old, values):
            updated.append((*values[1:], point_ewkt(rec.lat, rec.lng), stored_now, old[0]))
    summary = ImportSummary(created=len(created), updated=len(updated),
                            unchanged=len(records) - len(created) - len(updated),
                            dry_run=dry_run)
    if dry_run or not (created or updated):
        return summary
    if updated:
        conn.exec_driver_sql(_UPDATE, updated)
        conn.exec_driver_sql(_FEED, [(row[-1], stored_now) for row in updated])
    if created:
        conn.exec_driver_sql(_INSERT, created)
        codes = [row[0] for row in created]
        for i in range(0, len(codes), _CHUNK):
            part = codes[i:i + _CHUNK]
            conn.exec_driver_sql(
                "INSERT INTO catalog_changes (entity, entity_id, at) SELECT 'outlet', id, ? "
                f"FROM outlets WHERE code IN ({', '.join('?' * len(part))}) ORDER BY id",
                (stored_now, *part))
    return summary
