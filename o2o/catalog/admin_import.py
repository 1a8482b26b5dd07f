"""Bulk outlet import for the admin API: the CLI's reader, validator and loader, plus scope
and audit. All or nothing by default: one bad row and nothing is written, with every
rejected row reported by line, field and message, exactly as `o2o import` reports them.

A manager imports only into their own regions: a row naming another region reads as an
unknown region, and a code already used by an outlet outside their scope is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.audit.service import audit
from o2o.catalog.admin_common import unit_of_work
from o2o.catalog.admin_outlets import outlet_snapshot
from o2o.catalog.importer import OutletRecord, RowError, parse_mapping, read_rows, validate_rows
from o2o.catalog.importer.load import ImportSummary, import_records, reject_unknown_regions
from o2o.catalog.models import Outlet, Region
from o2o.errors import ValidationError
from o2o.staff.models import Role
from o2o.staff.policy import require_role
from o2o.staff.principal import Principal

if TYPE_CHECKING:
    from o2o.catalog.runtime import Catalog

#: Rejected rows listed in a report; the count is always exact.
MAX_ERRORS_SHOWN = 200


@dataclass
class ImportReport:
    """What happened (or would on a dry run), and every row that was refused."""

    summary: ImportSummary
    rejected: list[RowError] = field(default_factory=list)

    def errors(self) -> list[dict[str, Any]]:
        return [{"line": e.line, "field": e.field, "message": e.message}
                for e in self.rejected[:MAX_ERRORS_SHOWN]]


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _by_code(session: Session, codes: list[str]) -> dict[str, Outlet]:
    found: dict[str, Outlet] = {}
    for part in _chunks(codes):
        found.update((o.code, o) for o in session.scalars(
            sa.select(Outlet).where(Outlet.code.in_(part))))
    return found


def _scope_rejections(session: Session, principal: Principal,
                      records: list[OutletRecord]) -> tuple[list[OutletRecord], list[RowError]]:
    """Rows a manager may not write: another region, no region, someone else's code."""
    if principal.is_admin:
        return records, []
    regions = dict(session.execute(sa.select(Region.code, Region.id).where(
        Region.id.in_(principal.region_ids))).all())
    existing = _by_code(session, [r.code for r in records])
    good, bad = [], []
    for rec in records:
        row = existing.get(rec.code)
        if rec.region is None or rec.region not in regions:
            bad.append(RowError(rec.line, "region", f"unknown region code {rec.region!r}"
                                if rec.region else "required: one of your regions"))
        elif row is not None and row.region_id not in principal.region_ids:
            bad.append(RowError(rec.line, "code", f"code {rec.code!r} is in use outside "
                                                  "your regions"))
        else:
            good.append(rec)
    return good, bad


def import_outlets(session: Session, *, principal: Principal, path: Path, crs: str,
                   columns: str = "", fmt: str | None = None, dry_run: bool = False,
                   partial: bool = False, catalog: Catalog | None = None) -> ImportReport:
    """Validate the whole file, then (unless a row failed and `partial` is off) upsert by
    code in one transaction with one audit entry per created or changed outlet."""
    require_role(principal, Role.ADMIN, Role.MANAGER, doing="import outlets")
    mapping = parse_mapping(columns)
    records: list[OutletRecord] = []
    rejected: list[RowError] = []
    for checked in validate_rows(read_rows(path, fmt=fmt), mapping, crs):
        (rejected if isinstance(checked, RowError) else records).append(checked)
    records, unknown = reject_unknown_regions(session, records)
    records, out_of_scope = _scope_rejections(session, principal, records)
    rejected = sorted([*rejected, *unknown, *out_of_scope], key=lambda e: e.line)
    if rejected and not partial:
        report = ImportReport(ImportSummary(rejected=len(rejected), dry_run=dry_run), rejected)
        raise ValidationError(
            f"{len(rejected)} rows rejected; nothing imported (send partial=true to import "
            f"the {len(records)} good rows)", details=report.errors())
    codes = [r.code for r in records]
    before = {code: outlet_snapshot(row) for code, row in _by_code(session, codes).items()}
    with unit_of_work(session, kind="import", catalog=None if dry_run else catalog):
        summary = import_records(session, records, dry_run=dry_run)
        if not dry_run:
            _audit_rows(session, principal, codes, before)
    summary = ImportSummary(created=summary.created, updated=summary.updated,
                            unchanged=summary.unchanged, rejected=len(rejected),
                            dry_run=dry_run)
    return ImportReport(summary, rejected)


def _audit_rows(session: Session, principal: Principal, codes: list[str],
                before: dict[str, dict[str, Any]]) -> None:
    for code, row in _by_code(session, codes).items():
        after = outlet_snapshot(row)
        old = before.get(code)
        if old is None:
            audit(session, principal=principal, action="import:create", entity_type="outlet",
                  entity=row, before=None, after=after)
            continue
        changed = [k for k in after if old.get(k) != after[k]]
        if changed:
            audit(session, principal=principal, action="import:update", entity_type="outlet",
                  entity=row, before={k: old.get(k) for k in changed},
                  after={k: after[k] for k in changed})
