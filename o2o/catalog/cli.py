"""`o2o import`: load outlets from CSV, GeoJSON or XLSX, all or nothing, with a report."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from o2o.catalog.importer import RowError, parse_mapping, read_rows, validate_rows
from o2o.catalog.importer.load import import_records
from o2o.config import Settings
from o2o.db.engine import check_database, make_engine, make_sessionmaker, transaction
from o2o.errors import ValidationError
from o2o.migrate import upgrade

MAX_ERRORS_SHOWN = 50


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("import", help="import outlets from CSV, GeoJSON or XLSX (upsert by code)")
    cmd.add_argument("path", type=Path)
    cmd.add_argument("--crs", choices=["wgs84", "gcj02", "bd09"], default="wgs84",
                     help="datum of the file's coordinates (converted to WGS-84 in mainland China)")
    cmd.add_argument("--columns", default="",
                     help="field=Source Column,... e.g. code=Store Number,lat=Latitude")
    cmd.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
    cmd.add_argument("--partial", action="store_true",
                     help="import the good rows even if some are rejected (default: all or nothing)")
    cmd.set_defaults(func=run_import)


class Progress:
    """Rows done, rate and time left on a terminal; silent when output is redirected."""

    def __init__(self, total: int | None, stream=sys.stderr) -> None:  # type: ignore[no-untyped-def]
        self.total, self.stream = total, stream
        self.started = self.last = time.monotonic()
        self.enabled = stream.isatty()

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.2:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        left = f", {(self.total - done) / rate:,.0f} s left" if self.total and rate else ""
        of = f"/{self.total:,}" if self.total else ""
        self.stream.write(f"\r  {done:,}{of} rows, {rate:,.0f} rows/s{left}   ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 70 + "\r")


def run_import(args: argparse.Namespace) -> int:
    if not args.path.is_file():
        raise ValidationError(f"{args.path}: no such file")
    mapping = parse_mapping(args.columns)
    total = _count_lines(args.path)
    progress = Progress(total)
    records, rejected = [], []
    started = time.monotonic()
    for checked in validate_rows(read_rows(args.path, progress=progress, every=500), mapping,
                                 args.crs):
        (rejected if isinstance(checked, RowError) else records).append(checked)
    progress.close()
    records, unknown = _known_regions(records)
    rejected = sorted([*rejected, *unknown], key=lambda e: e.line)
    for err in rejected[:MAX_ERRORS_SHOWN]:
        print(f"  line {err.line}: {err.field}: {err.message}", file=sys.stderr)
    if len(rejected) > MAX_ERRORS_SHOWN:
        print(f"  ... and {len(rejected) - MAX_ERRORS_SHOWN} more", file=sys.stderr)
    if rejected and not args.partial:
        hint = (f"use --partial to import the {len(records)} good rows" if records else
                "no row is valid: check the file's headers against --columns and --crs")
        print(f"{len(rejected)} rows rejected; nothing imported ({hint})", file=sys.stderr)
        return 1
    settings = Settings()  # only the database: an import needs no secrets (nor their warning)
    engine = make_engine(settings.database_url)
    check_database(engine)
    upgrade(engine)
    with transaction(make_sessionmaker(engine)) as session:
        summary = import_records(session, records, dry_run=args.dry_run)
        if args.dry_run:
            session.rollback()
    engine.dispose()
    elapsed = time.monotonic() - started
    print(f"{'dry run: ' if args.dry_run else ''}created {summary.created}, updated "
          f"{summary.updated}, unchanged {summary.unchanged}, rejected {len(rejected)} "
          f"in {elapsed:.1f} s")
    return 0


def _known_regions(records: list[Any]) -> tuple[list[Any], list[RowError]]:
    """Rows naming a region the database does not have (or has deactivated) are rejects
    like any other bad row; a file without regions does not touch the database here."""
    from o2o.catalog.importer.load import reject_unknown_regions

    if not any(r.region for r in records):
        return records, []
    engine = make_engine(Settings().database_url)
    try:
        check_database(engine)
        upgrade(engine)
        with make_sessionmaker(engine)() as session:
            return reject_unknown_regions(session, records)
    finally:
        engine.dispose()


def _count_lines(path: Path) -> int | None:
    """Rows to expect for CSV (lines minus the header); unknown for other formats."""
    if path.suffix.lower() != ".csv":
        return None
    with path.open("rb") as f:
        return max(sum(1 for _ in f) - 1, 0)
