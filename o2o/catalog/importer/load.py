"""Upsert validated outlet records by code, in the caller's transaction (all or nothing).

The caller owns the transaction: everything here is flushed, never committed, so one bad
record (an unknown region) raises before anything is written and a failure later rolls the
whole file back. Each created or changed outlet is put on the change feed so running workers
pick it up; unchanged rows are left alone (no version bump, no change entry). A changed row
gets what an ORM update would give it: version + 1, a new `updated_at`, `location` recomputed
from lat/lng, and `deleted_at` cleared (a soft-deleted outlet listed again is back).

PostgreSQL loads through COPY and one set-based upsert (`load_postgres`); SQLite compares
in Python and writes with executemany (`load_sqlite`).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.catalog.importer import load_postgres, load_sqlite
from o2o.catalog.importer.load_common import ImportSummary
from o2o.catalog.importer.records import OutletRecord, RowError
from o2o.catalog.models import Outlet, Region
from o2o.db.schema import utcnow
from o2o.errors import ConfigError, ValidationError

__all__ = ["ImportSummary", "import_records", "reject_unknown_regions"]

_CHUNK = 500  # codes per IN (...) lookup: well under every backend's parameter limit
_UPSERTS = {"postgresql": load_postgres.upsert, "sqlite": load_sqlite.upsert}


def _check_duplicates(records: list[OutletRecord]) -> None:
    first: dict[str, int] = {}
    problems = []
    for rec in records:
        line = first.setdefault(rec.code, rec.line)
        if line != rec.line:
            problems.append({"field": "code", "line": rec.line,
                             "message": f"duplicate code {rec.code!r}: also on line {line}"})
    if problems:
        raise ValidationError(f"{len(problems)} duplicate outlet codes; nothing imported",
                              details=problems)


def _active_regions(session: Session, codes: set[str]) -> tuple[dict[str, int], set[str]]:
    """(code -> id of the active regions named, codes of deactivated ones)."""
    found: dict[str, int] = {}
    inactive: set[str] = set()
    ordered = sorted(codes)
    for i in range(0, len(ordered), _CHUNK):
        for code, rid, active in session.execute(sa.select(Region.code, Region.id, Region.active)
                                                 .where(Region.code.in_(ordered[i:i + _CHUNK]))):
            if active:
                found[code] = rid
            else:
                inactive.add(code)
    return found, inactive


def reject_unknown_regions(session: Session, records: list[OutletRecord]
                           ) -> tuple[list[OutletRecord], list[RowError]]:
    """Split records into those whose `region` is empty or an active region's code, and a
    line-numbered reject for each of the others (checked before anything is written)."""
    codes = {r.region for r in records if r.region}
    if not codes:
        return records, []
    found, inactive = _active_regions(session, codes)
    good, bad = [], []
    for rec in records:
        if not rec.region or rec.region in found:
            good.append(rec)
        elif rec.region in inactive:
            bad.append(RowError(rec.line, "region", f"region {rec.region!r} is deactivated"))
        else:
            bad.append(RowError(rec.line, "region", f"unknown region code {rec.region!r} "
                                                    "(create it first: o2o region create)"))
    return good, bad


def _region_ids(session: Session, records: list[OutletRecord]) -> dict[str, int]:
    codes = {r.region for r in records if r.region}
    if not codes:
        return {}
    found, _ = _active_regions(session, codes)
    missing = [r for r in records if r.region and r.region not in found]
    if missing:
        raise ValidationError(
            f"{len(missing)} rows name an unknown region (e.g. {missing[0].region!r} on line "
            f"{missing[0].line}); nothing imported",
            details=[{"field": "region", "line": r.line, "message": f"unknown region {r.region!r}"}
                     for r in missing[:100]])
    return found


def _expire_outlets(session: Session) -> None:
    """Outlets this session already holds may have been rewritten in SQL: reload on access
    (a stale version would otherwise make the next ORM update fail its version check)."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Outlet):
            session.expire(obj)


def import_records(session: Session, records: Iterable[OutletRecord], *,
                   dry_run: bool = False) -> ImportSummary:
    """Create or update outlets by code; a dry run counts the same way and writes nothing."""
    records = list(records)
    _check_duplicates(records)
    region_ids = _region_ids(session, records)  # autoflushes the caller's pending objects
    session.flush()
    conn = session.connection()
    upsert = _UPSERTS.get(conn.dialect.name)
    if upsert is None:
        raise ConfigError(f"importing outlets into {conn.dialect.name} is not supported "
                          "(PostgreSQL with PostGIS, or SQLite)")
    summary = upsert(conn, records, region_ids, dry_run=dry_run, now=utcnow())
    if not dry_run and (summary.created or summary.updated):
        _expire_outlets(session)
    return summary
