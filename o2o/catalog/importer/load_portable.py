"""Portable upsert (SQLite, and any backend without the COPY path): compare in Python,
write in executemany batches through Core, no ORM objects.

Existing outlets are read as plain tuples with their JSON columns as stored text: an
unchanged row usually matches text for text, and only a mismatch is parsed and compared as
values (so key order or spacing never counts as a change; tags compare as a set).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from o2o.catalog.importer.load_common import COLUMNS, JSON_COLUMNS, Encoder, ImportSummary
from o2o.catalog.importer.records import OutletRecord
from o2o.catalog.models import CatalogChange, Outlet
from o2o.db import point_ewkt

__all__ = ["upsert"]

_CHUNK = 500  # codes per IN (...) lookup and rows per multi-row INSERT
_TABLE = Outlet.__table__
_JSON = {name: COLUMNS.index(name) for name in JSON_COLUMNS}
_JSON_AT = frozenset(_JSON.values())
_TAGS = _JSON["tags"]


def _read_columns() -> list[sa.ColumnElement[Any]]:
    cols: list[sa.ColumnElement[Any]] = [_TABLE.c.id]
    for name in COLUMNS:
        col = _TABLE.c[name]
        # JSON as stored text: compare text first, parse only on a mismatch.
        cols.append(sa.type_coerce(col, sa.Text) if name in _JSON else col)
    return [*cols, _TABLE.c.deleted_at]


def _existing(conn: sa.Connection, codes: list[str]) -> dict[str, tuple[Any, ...]]:
    """code → (id, *COLUMNS as stored, deleted_at) for the codes already in the table."""
    found: dict[str, tuple[Any, ...]] = {}
    cols = _read_columns()
    for i in range(0, len(codes), _CHUNK):
        rows = conn.execute(sa.select(*cols).where(_TABLE.c.code.in_(codes[i:i + _CHUNK])))
        found.update((row[1], tuple(row)) for row in rows)
    return found


def _same_json(stored: str | None, new: str, *, as_set: bool = False) -> bool:
    if stored == new:
        return True
    old = json.loads(stored) if stored is not None else None
    value = json.loads(new)
    if as_set:
        return sorted(old or ()) == value
    return old == value


def _differs(old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    """Whether writing `new` (Encoder.values) changes the stored row `old` (_existing)."""
    if old[-1] is not None:  # soft-deleted: the file lists it again, so it is back
        return True
    for i, value in enumerate(new):
        stored = old[i + 1]
        if i in _JSON_AT:
            if not _same_json(stored, value, as_set=i == _TAGS):
                return True
        elif stored != value:
            return True
    return False


def _params(values: tuple[Any, ...]) -> dict[str, Any]:
    params = dict(zip(COLUMNS, values, strict=True))
    params["location"] = point_ewkt(params["lat"], params["lng"])
    return params


def upsert(conn: sa.Connection, records: list[OutletRecord], region_ids: dict[str, int], *,
           dry_run: bool, now: datetime) -> ImportSummary:
    """Classify every record against the table, then insert and update in batches."""
    existing = _existing(conn, [r.code for r in records])
    created: list[dict[str, Any]] = []
    updated: list[dict[str, Any]] = []
    enc = Encoder(region_ids)
    for rec in records:
        values = enc.values(rec)
        old = existing.get(rec.code)
        if old is None:
            created.append(_params(values))
        elif _differs(old, values):
            updated.append({**_params(values), "b_id": old[0]})
    summary = ImportSummary(created=len(created), updated=len(updated),
                            unchanged=len(records) - len(created) - len(updated),
                            dry_run=dry_run)
    if dry_run or not (created or updated):
        return summary
    ids = [p["b_id"] for p in updated]
    if updated:
        conn.execute(_update_statement(now), updated)
    ids += _insert(conn, created, now)
    conn.execute(sa.insert(CatalogChange.__table__),
                 [{"entity": "outlet", "entity_id": i, "at": now} for i in ids])
    return summary


def _update_statement(now: datetime) -> sa.Update:
    values: dict[str, Any] = {c: sa.bindparam(c) for c in (*COLUMNS, "location") if c != "code"}
    return (sa.update(_TABLE).where(_TABLE.c.id == sa.bindparam("b_id"))
            .values(**_json_binds(values), deleted_at=None, version=_TABLE.c.version + 1,
                    updated_at=now))


def _json_binds(values: dict[str, Any]) -> dict[str, Any]:
    """JSON columns are bound as the text record_values made (serialised once, not twice)."""
    for name in _JSON:
        values[name] = sa.bindparam(name, type_=sa.Text)
    return values


def _insert(conn: sa.Connection, rows: list[dict[str, Any]], now: datetime) -> list[int]:
    """Multi-row INSERT ... RETURNING id; ids come back in the rows' order."""
    if not rows:
        return []
    values = _json_binds({c: sa.bindparam(c) for c in (*COLUMNS, "location")})
    stmt = (sa.insert(_TABLE).values(**values, version=1, created_at=now, updated_at=now)
            .returning(_TABLE.c.id, sort_by_parameter_order=True))
    return list(conn.execute(stmt, rows).scalars())
