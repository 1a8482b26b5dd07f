"""Load the demo chain shipped in stores_data/ into an empty database (embedded default)."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from o2o.catalog.changes import record_change
from o2o.catalog.importer import RowError, read_rows, validate_rows
from o2o.catalog.importer.load import import_records
from o2o.catalog.models import Outlet, Promotion, Region
from o2o.db.engine import transaction
from o2o.errors import ValidationError
from stores_data import OUTLETS_CSV, PROMOTIONS_JSON, REGIONS_JSON

log = logging.getLogger("o2o.demo")


def load_demo_if_empty(sessions: sessionmaker[Session]) -> bool:
    """Load regions, outlets (GCJ-02 in the file, WGS-84 in the database) and promotions
    in one transaction, only when there are no outlets yet. True if it loaded."""
    with transaction(sessions) as session:
        if session.scalar(sa.select(sa.func.count()).select_from(Outlet)):
            return False
        load_demo(session)
    return True


def load_demo(session: Session, data_dir: Path | None = None) -> None:
    regions = _load_regions(session, REGIONS_JSON if data_dir is None
                            else data_dir / REGIONS_JSON.name)
    records, errors = [], []
    path = OUTLETS_CSV if data_dir is None else data_dir / OUTLETS_CSV.name
    for checked in validate_rows(read_rows(path), {}, "gcj02"):
        (errors if isinstance(checked, RowError) else records).append(checked)
    if errors:
        raise ValidationError(f"the demo outlets file has {len(errors)} bad rows",
                              details=[{"line": e.line, "field": e.field, "message": e.message}
                                       for e in errors[:10]])
    import_records(session, records)
    session.flush()
    _load_promotions(session, PROMOTIONS_JSON if data_dir is None
                     else data_dir / PROMOTIONS_JSON.name, regions)
    log.info("demo chain loaded: %d regions, %d outlets", len(regions), len(records))


def _load_regions(session: Session, path: Path) -> dict[str, Region]:
    regions = {}
    for item in json.loads(path.read_text(encoding="utf-8")):
        region = Region(code=item["code"], name=item["name"],
                        timezone=item.get("timezone", "Asia/Shanghai"))
        session.add(region)
        regions[region.code] = region
    session.flush()
    for region in regions.values():
        record_change(session, "region", region.id)
    return regions


def _load_promotions(session: Session, path: Path, regions: dict[str, Region]) -> None:
    outlets = {o.code: o for o in session.scalars(sa.select(Outlet))}
    for item in json.loads(path.read_text(encoding="utf-8")):
        promo = Promotion(**_promotion_fields(item))
        if item.get("region"):
            promo.region_id = regions[item["region"]].id
        promo.outlets = [outlets[code] for code in item.get("outlets", [])]
        session.add(promo)
        session.flush()
        record_change(session, "promotion", promo.id)


def _promotion_fields(item: dict[str, Any]) -> dict[str, Any]:
    def when(key: str) -> datetime | None:
        return datetime.fromisoformat(item[key]) if item.get(key) else None

    return {
        "code": item["code"], "title": item["title"],
        "description": item.get("description", ""), "image_url": item.get("image_url", ""),
        "link_url": item.get("link_url", ""), "valid_from": when("valid_from"),
        "valid_until": when("valid_until"), "weekdays": list(item.get("weekdays", [])),
        "daily_start": item.get("daily_start"), "daily_end": item.get("daily_end"),
        "timezone": item.get("timezone"), "priority": int(item.get("priority", 0)),
        "status": item.get("status", "published"), "scope": item.get("scope", "all"),
        "coupon_enabled": bool(item.get("coupon_total") or item.get("coupon_enabled")),
        "coupon_total": item.get("coupon_total"),
        "coupon_per_customer": int(item.get("coupon_per_customer", 1)),
        "coupon_valid_days": int(item.get("coupon_valid_days", 7)),
    }
