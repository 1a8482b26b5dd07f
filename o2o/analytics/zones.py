"""Local time of an event: its outlet's zone, else its region's, else Asia/Shanghai.

Bucketing happens in Python with zoneinfo, so SQLite and PostgreSQL give identical days and
hours (DST included) and no SQL dialect needs a time-zone database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.catalog.models import Outlet, Region

log = logging.getLogger("o2o.analytics")

DEFAULT_ZONE = "Asia/Shanghai"
#: The widest UTC offsets in use (UTC-12 .. UTC+14): enough margin to find a local day's events.
MAX_OFFSET = timedelta(hours=14)


@lru_cache(maxsize=512)
def zone(name: str | None) -> ZoneInfo:
    """The zone by IANA name; an unknown or empty name falls back to Asia/Shanghai, loudly."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("unknown time zone %r; using %s", name, DEFAULT_ZONE)
    return ZoneInfo(DEFAULT_ZONE)


@dataclass(frozen=True, slots=True)
class ZoneBook:
    """Outlet and region zones, read once per query or rollup batch (small tables)."""

    outlets: dict[int, str]
    regions: dict[int, str]

    @classmethod
    def load(cls, session: Session) -> ZoneBook:
        outlets = dict(session.execute(sa.select(Outlet.id, Outlet.timezone)).all())
        regions = dict(session.execute(sa.select(Region.id, Region.timezone)).all())
        return cls(outlets=outlets, regions=regions)

    def name_for(self, outlet_id: int | None, region_id: int | None) -> str:
        if outlet_id is not None and self.outlets.get(outlet_id):
            return self.outlets[outlet_id]
        if region_id is not None and self.regions.get(region_id):
            return self.regions[region_id]
        return DEFAULT_ZONE

    def zone_for(self, outlet_id: int | None, region_id: int | None) -> ZoneInfo:
        return zone(self.name_for(outlet_id, region_id))


def local_day_hour(at: datetime, tz: ZoneInfo) -> tuple[date, int]:
    """The local calendar day and hour of an aware instant."""
    local = at.astimezone(tz)
    return local.date(), local.hour


def day_start_utc(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which `day` begins in `tz`."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def widened_utc_range(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """UTC bounds holding every instant that is inside [date_from, date_to] somewhere."""
    start = datetime.combine(date_from, time(0), tzinfo=UTC) - MAX_OFFSET
    end = datetime.combine(date_to + timedelta(days=1), time(0), tzinfo=UTC) + MAX_OFFSET
    return start, end
