"""POST /api/v1/outlets/import: the CLI's importer behind an upload, with the same report."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import File, Form, UploadFile
from pydantic import BaseModel

from api.body import body_limit
from api.deps import CatalogDep, CurrentStaff, DbSession
from api.routes.admin_common import admin_router
from o2o.catalog.admin_import import import_outlets
from o2o.catalog.importer import FORMATS

router = admin_router(tags=["admin: outlets"])


class ImportResult(BaseModel):
    dry_run: bool
    created: int
    updated: int
    unchanged: int
    rejected: int
    errors: list[dict[str, Any]]


@router.post("/outlets/import", summary="Import outlets from CSV, GeoJSON or XLSX (upsert by "
                                        "code; all or nothing unless partial)")
@body_limit("import_max_bytes")  # larger than other routes; read only after authentication
def import_file(
    session: DbSession, principal: CurrentStaff, catalog: CatalogDep,
    file: Annotated[UploadFile, File(description="CSV, GeoJSON or XLSX")],
    crs: Annotated[Literal["wgs84", "gcj02", "bd09"], Form(description="Datum of the file")],
    columns: Annotated[str, Form(max_length=2000, description="field=Source Column,...")] = "",
    dry_run: Annotated[bool, Form()] = False,
    partial: Annotated[bool, Form(description="Import the good rows even if some fail")] = False,
) -> ImportResult:
    suffix = Path(file.filename or "").suffix.lower()
    with tempfile.TemporaryDirectory(prefix="o2o-import-") as tmp:
        path = Path(tmp) / f"upload{suffix if suffix in FORMATS else '.csv'}"
        _save(file, path)
        report = import_outlets(session, principal=principal, path=path, crs=crs,
                                columns=columns, dry_run=dry_run, partial=partial,
                                catalog=catalog)
    s = report.summary
    return ImportResult(dry_run=s.dry_run, created=s.created, updated=s.updated,
                        unchanged=s.unchanged, rejected=s.rejected, errors=report.errors())


def _save(upload: UploadFile, path: Path) -> None:
    """Copy the spooled upload to a named file (the readers take paths); its size was capped
    as it arrived (O2O_IMPORT_MAX_BYTES; larger lists: `o2o import` on the server)."""
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out, length=1 << 20)
