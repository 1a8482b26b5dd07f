"""Immutable in-memory snapshots of outlets and promotions, served to every query."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from o2o.catalog.hours import OpeningHours
from o2o.catalog.models import Outlet, Promotion, Region
from o2o.catalog.schedule import Schedule, parse_hhmm
from o2o.geo.index import IndexEntry


@dataclass(frozen=True, slots=True)
class OutletView:
    id: int
    code: str
    name: str
    address: str
    city: str
    district: str
    phone: str
    lat: float  # WGS-84
    lng: float
    timezone: str
    region_id: int | None
    region_code: str | None
    region_name: str | None
    status: str
    reopen_on: date | None
    tags: frozenset[str]
    image_url: str
    geofence_radius_m: int
    geofence_wkt: str | None
    hours: OpeningHours | None

    def is_open(self, at: datetime) -> bool | None:
        """Open at `at`? None when the hours are unknown (the UI says so, not "closed")."""
        if self.status != "open":
            return False
        return None if self.hours is None else self.hours.is_open(at)

    def today_text(self, at: datetime) -> str:
        if self.status == "temporarily_closed":
            return f"暂停营业，{self.reopen_on:%m月%d日}恢复" if self.reopen_on else "暂停营业"
        if self.status == "closed":
            return "已停业"
        return "营业时间未知" if self.hours is None else self.hours.today_text(at)

    def next_change_text(self, at: datetime) -> str:
        """"22:00 打烊" / "明天 08:00 开门"; empty when unknown or not trading."""
        if self.status != "open" or self.hours is None:
            return ""
        return self.hours.next_change_text(at)


@dataclass(frozen=True, slots=True)
class PromotionView:
    id: int
    code: str
    title: str
    description: str
    image_url: str
    link_url: str
    priority: int
    scope: str
    region_id: int | None
    outlet_ids: frozenset[int]
    schedule: Schedule
    coupon_enabled: bool
    coupon_total: int | None
    coupon_per_customer: int
    coupon_valid_days: int

    def applies_to(self, outlet: OutletView) -> bool:
        if self.scope == "all":
            return True
        if self.scope == "region":
            return self.region_id is not None and self.region_id == outlet.region_id
        return outlet.id in self.outlet_ids

    def is_active(self, at: datetime, outlet_tz: str) -> bool:
        return self.schedule.is_active(at, fallback_tz=outlet_tz)


def outlet_view(row: Any, region: Region | None = None, *,
                hours: OpeningHours | None | Literal["compile"] = "compile",
                tags: frozenset[str] | None = None) -> OutletView:
    """Snapshot an ORM outlet (or a bulk-load row, then with its `region`, compiled `hours`
    and `tags`); opening hours are compiled once here, not per query."""
    if hours == "compile":
        hours = OpeningHours.compile(row.hours, row.exceptions or {}, row.timezone) \
            if row.hours is not None else None
    if tags is None:
        tags = frozenset(row.tags or ())
    if region is None and isinstance(row, Outlet):
        region = row.region
    return OutletView(
        id=row.id, code=row.code, name=row.name, address=row.address, city=row.city,
        district=row.district, phone=row.phone, lat=row.lat, lng=row.lng, timezone=row.timezone,
        region_id=row.region_id, region_code=region.code if region else None,
        region_name=region.name if region else None, status=str(row.status),
        reopen_on=row.reopen_on, tags=tags, image_url=row.image_url,
        geofence_radius_m=row.geofence_radius_m, geofence_wkt=row.geofence_wkt, hours=hours,
    )


def index_entry(view: OutletView) -> IndexEntry:
    """The outlet as the nearest index sees it (its checks: degrees, status, tags)."""
    return IndexEntry(id=view.id, lat=view.lat, lng=view.lng, status=view.status, tags=view.tags)


def promotion_view(row: Promotion | Any, *, outlet_ids: Iterable[int] | None = None,
                   weekdays: Iterable[int] | None = None) -> PromotionView:
    """Snapshot an ORM promotion, or a plain row with its `outlet_ids` and decoded `weekdays`
    (o2o.catalog.offers.read_promotions loads every promotion's links in one query)."""
    schedule = Schedule(
        valid_from=row.valid_from, valid_until=row.valid_until,
        weekdays=frozenset((row.weekdays if weekdays is None else weekdays) or ()),
        daily_start=parse_hhmm(row.daily_start) if row.daily_start else None,
        daily_end=parse_hhmm(row.daily_end) if row.daily_end else None,
        timezone=row.timezone,
    )
    return PromotionView(
        id=row.id, code=row.code, title=row.title, description=row.description,
        image_url=row.image_url, link_url=row.link_url, priority=row.priority,
        scope=str(row.scope), region_id=row.region_id,
        outlet_ids=frozenset(o.id for o in row.outlets) if outlet_ids is None
        else frozenset(outlet_ids), schedule=schedule,
        coupon_enabled=row.coupon_enabled, coupon_total=row.coupon_total,
        coupon_per_customer=row.coupon_per_customer, coupon_valid_days=row.coupon_valid_days,
    )


def outlet_dict(view: OutletView) -> dict[str, Any]:
    """Plain fields for JSON and templates (no compiled hours object)."""
    return {
        "id": view.id, "code": view.code, "name": view.name, "address": view.address,
        "city": view.city, "district": view.district, "phone": view.phone,
        "timezone": view.timezone, "region": view.region_code, "status": view.status,
        "reopen_on": view.reopen_on.isoformat() if view.reopen_on else None,
        "tags": sorted(view.tags), "image_url": view.image_url,
    }
