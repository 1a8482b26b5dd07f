"""`o2o region create|list|import`: regions without the API, as the server's operator.

The same services as the admin API (validation, audit), run with the operator's rights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from o2o.cli_db import cli_session
from o2o.errors import ValidationError


def register(sub: argparse._SubParsersAction) -> None:
    region = sub.add_parser("region", help="regions: create, list, import")
    cmds = region.add_subparsers(dest="region_command", required=True, metavar="ACTION")

    create = cmds.add_parser("create", help="add a region (code and name; boundary optional)")
    create.add_argument("--code", required=True, help="short code, e.g. EC")
    create.add_argument("--name", required=True, help="name people read, e.g. 华东")
    create.add_argument("--timezone", default="Asia/Shanghai", help="IANA zone (default "
                                                                     "Asia/Shanghai)")
    create.add_argument("--boundary", type=Path, metavar="FILE",
                        help="a file with the WGS-84 boundary: WKT or GeoJSON (Polygon or "
                             "MultiPolygon)")
    create.set_defaults(func=run_create)

    lst = cmds.add_parser("list", help="every region, active or not, with its outlet count")
    lst.set_defaults(func=run_list)

    imp = cmds.add_parser("import", help="create or update regions from CSV (code,name,"
                                         "timezone,boundary) or a GeoJSON FeatureCollection")
    imp.add_argument("path", type=Path)
    imp.add_argument("--dry-run", action="store_true", help="validate and count, write nothing")
    imp.set_defaults(func=run_import)


def run_create(args: argparse.Namespace) -> int:
    import pydantic

    from o2o.catalog.admin_regions import create_region
    from o2o.catalog.region_schemas import RegionCreate
    from o2o.staff.principal import OPERATOR

    boundary = None
    if args.boundary is not None:
        if not args.boundary.is_file():
            raise ValidationError(f"{args.boundary}: no such file")
        boundary = args.boundary.read_text(encoding="utf-8-sig")
    try:
        region_in = RegionCreate(code=args.code, name=args.name, timezone=args.timezone,
                                 boundary=boundary)
    except pydantic.ValidationError as exc:
        raise ValidationError("; ".join(f"--{e['loc'][0]}: {e['msg']}" for e in exc.errors())
                              ) from None
    with cli_session() as session:
        row = create_region(session, principal=OPERATOR, region_in=region_in)
        shape = "with a boundary" if row.boundary is not None else "no boundary"
        print(f"region #{row.id} {row.code} {row.name} ({row.timezone}, {shape})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from o2o.catalog.models import Outlet, Region

    with cli_session() as session:
        outlets = dict(session.execute(sa.select(Outlet.region_id, sa.func.count()).where(
            Outlet.deleted_at.is_(None)).group_by(Outlet.region_id)).all())
        rows = session.scalars(sa.select(Region).order_by(Region.code)).all()
        if not rows:
            print("no regions yet: o2o region create --code EC --name 华东")
        for row in rows:
            state = "" if row.active else " [deactivated]"
            shape = "boundary" if row.boundary is not None else "no boundary"
            print(f"#{row.id} {row.code} {row.name} ({row.timezone}, {shape}, "
                  f"{outlets.get(row.id, 0)} outlets){state}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from o2o.catalog.region_import import import_regions
    from o2o.staff.principal import OPERATOR

    with cli_session() as session:
        try:
            report = import_regions(session, principal=OPERATOR, path=args.path,
                                    dry_run=args.dry_run)
        except ValidationError as exc:
            if not exc.details or "line" not in exc.details[0]:
                raise
            for item in exc.details:
                print(f"  line {item['line']}: {item['field']}: {item['message']}",
                      file=sys.stderr)
            print(exc.message, file=sys.stderr)
            return 1
    print(f"{'dry run: ' if args.dry_run else ''}created {report.created}, updated "
          f"{report.updated}, unchanged {report.unchanged}")
    return 0
