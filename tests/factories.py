"""Small builders for test rows; each records a catalog change like the real writers do."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from o2o.catalog.changes import record_change
from o2o.catalog.models import Outlet, Promotion, Region

ALWAYS_OPEN = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
_seq = itertools.count(1)


def make_region(session: Session, code: str | None = None, **kw: Any) -> Region:
    n = next(_seq)
    region = Region(code=code or f"R{n}", name=kw.pop("name", f"Region {n}"), **kw)
    session.add(region)
    session.flush()
    record_change(session, "region", region.id)
    return region


def make_outlet(session: Session, *, lat: float = 31.2304, lng: float = 121.4737,
                code: str | None = None, region: Region | None = None, **kw: Any) -> Outlet:
    """An open, always-open outlet at a WGS-84 position unless told otherwise."""
    n = next(_seq)
    kw.setdefault("hours", ALWAYS_OPEN)
    kw.setdefault("city", "上海")
    outlet = Outlet(code=code or f"S{n:05d}", name=kw.pop("name", f"测试门店 {n}"),
                    region_id=region.id if region else kw.pop("region_id", None), **kw)
    outlet.set_position(lat, lng)
    session.add(outlet)
    session.flush()
    record_change(session, "outlet", outlet.id)
    return outlet


def make_promotion(session: Session, *, outlets: list[Outlet] | None = None, **kw: Any) -> Promotion:
    """A published, always-valid promotion for every outlet unless told otherwise."""
    n = next(_seq)
    kw.setdefault("status", "published")
    kw.setdefault("scope", "outlets" if outlets else "all")
    kw.setdefault("valid_from", datetime(2020, 1, 1, tzinfo=UTC))
    promo = Promotion(code=kw.pop("code", f"P{n}"), title=kw.pop("title", f"优惠 {n}"), **kw)
    if outlets:
        promo.outlets = list(outlets)
    session.add(promo)
    session.flush()
    record_change(session, "promotion", promo.id)
    return promo
