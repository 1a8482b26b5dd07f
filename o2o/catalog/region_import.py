"""`o2o region import`: regions from CSV (code, name, timezone, boundary as WKT or GeoJSON
text) or a GeoJSON FeatureCollection (properties code, name, timezone; the geometry is the
boundary). Upsert by code, all or nothing: every bad row is reported by line and nothing is
written unless every row is good. Line numbers are what a person counts: the physical CSV
line (header = 1), the feature's position in the collection (from 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import sqlalchemy as sa
from shapely.geometry import MultiPolygon
from sqlalchemy.orm import Session

from o2o.audit.service import audit
from o2o.catalog.admin_common import diff, unit_of_work
from o2o.catalog.admin_regions import region_snapshot
from o2o.catalog.boundary import from_column, parse_boundary, to_column
from o2o.catalog.changes import record_change
from o2o.catalog.importer import RawRow, RowError
from o2o.catalog.importer.readers import _file_error, detect_encoding, read_csv
from o2o.catalog.models import Region
from o2o.catalog.region_schemas import RegionCreate
from o2o.db.schema import utcnow
from o2o.errors import ValidationError
from o2o.staff.models import Role
from o2o.staff.policy import require_role
from o2o.staff.principal import Principal


@dataclass
class RegionImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RowError] = field(default_factory=list)


def _features(path: Path) -> list[RawRow]:
    try:
        doc = json.loads(path.read_text(encoding=detect_encoding(path)))
    except json.JSONDecodeError as exc:
        raise _file_error(path, f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or \
            not isinstance(doc.get("features"), list):
        raise _file_error(path, "expected a GeoJSON FeatureCollection")
    rows = []
    for number, feature in enumerate(doc["features"], 1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            rows.append(RawRow(number, {}, "not a GeoJSON Feature"))
            continue
        props = feature.get("properties") or {}
        values = {str(k): None if v is None else str(v).strip() or None
                  for k, v in (props.items() if isinstance(props, dict) else ())}
        geometry = feature.get("geometry")
        values["boundary"] = json.dumps(geometry) if geometry else None
        rows.append(RawRow(number, values))
    return rows


def read_region_rows(path: Path) -> list[RawRow]:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise _file_error(path, "no such file")
    if suffix in (".geojson", ".json"):
        return _features(path)
    if suffix in (".csv", ".txt"):
        return list(read_csv(path))
    raise _file_error(path, f"unknown format {suffix!r}; expected CSV or GeoJSON")


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    region_in: RegionCreate
    shape: MultiPolygon | None


def _check(raw: RawRow) -> _Row | RowError:
    if raw.problem:
        return RowError(raw.line, "row", raw.problem)
    data = {k: raw.values.get(k) for k in ("code", "name", "timezone")}
    try:
        region_in = RegionCreate.model_validate({k: v for k, v in data.items() if v})
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "row"
        return RowError(raw.line, name, "required, but empty" if first["type"] == "missing"
                        else first["msg"])
    shape = None
    if raw.values.get("boundary"):
        try:
            shape = parse_boundary(raw.values["boundary"])
        except ValidationError as exc:
            return RowError(raw.line, "boundary", exc.details[0]["message"])
    return _Row(raw.line, region_in, shape)


def import_regions(session: Session, *, principal: Principal, path: Path,
                   dry_run: bool = False) -> RegionImportReport:
    """Validate every row, then create or update by code in one transaction (admins only).
    Raises ValidationError listing every rejected row (line, field, message) if any.
    A file without a timezone or boundary for a known region leaves its current one."""
    require_role(principal, Role.ADMIN, doing="import regions")
    report = RegionImportReport()
    good: list[_Row] = []
    first_line: dict[str, int] = {}
    for raw in read_region_rows(path):
        checked = _check(raw)
        if isinstance(checked, RowError):
            report.rejected.append(checked)
            continue
        code = checked.region_in.code
        if first_line.setdefault(code, raw.line) != raw.line:
            report.rejected.append(RowError(raw.line, "code", f"duplicate code {code!r}: "
                                                              f"also on line {first_line[code]}"))
        else:
            good.append(checked)
    if report.rejected:
        raise ValidationError(
            f"{len(report.rejected)} rows rejected; no region imported",
            details=[{"line": e.line, "field": e.field, "message": e.message}
                     for e in report.rejected])
    existing = {r.code: r for r in session.scalars(sa.select(Region).where(
        Region.code.in_([r.region_in.code for r in good])))}
    with unit_of_work(session, kind="region", catalog=None):
        for row in good:
            _upsert(session, principal, existing.get(row.region_in.code), row, report)
        if dry_run:
            session.rollback()
    return report


def _changes(row: Region, new: _Row) -> dict[str, Any]:
    region_in = new.region_in
    changes: dict[str, Any] = {}
    if row.name != region_in.name:
        changes["name"] = region_in.name
    if "timezone" in region_in.model_fields_set and row.timezone != region_in.timezone:
        changes["timezone"] = region_in.timezone
    if new.shape is not None:
        old = from_column(row.boundary)
        if old is None or not old.equals_exact(new.shape, 0):
            changes["boundary"] = to_column(new.shape)
    return changes


def _upsert(session: Session, principal: Principal, row: Region | None, new: _Row,
            report: RegionImportReport) -> None:
    if row is None:
        row = Region(code=new.region_in.code, name=new.region_in.name,
                     timezone=new.region_in.timezone, boundary=to_column(new.shape),
                     active=True)
        session.add(row)
        session.flush()
        record_change(session, "region", row.id)
        audit(session, principal=principal, action="import:create", entity_type="region",
              entity=row, before=None, after=region_snapshot(row), region_id=row.id)
        report.created += 1
        return
    changes = _changes(row, new)
    if not changes:
        report.unchanged += 1
        return
    before = region_snapshot(row)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.flush()
    old, after = diff(before, region_snapshot(row))
    record_change(session, "region", row.id)
    audit(session, principal=principal, action="import:update", entity_type="region",
          entity=row, before=old, after=after, region_id=row.id)
    report.updated += 1
