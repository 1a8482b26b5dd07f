"""Admin input and output shapes: OutletCreate/OutletUpdate/OutletRead and the same family for
promotions. Shape rules live here (lengths in UTF-8 bytes as WeChat counts them, https image
URLs, time zones); rules that need the database or the merged state of a partial update
(region codes, validity windows, scope) live in the admin services."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from o2o.catalog.hours_syntax import HOURS_FORMS
from o2o.catalog.models import Outlet, OutletStatus, Promotion, PromotionScope, PromotionStatus
from o2o.db.schema import INT4_MAX
from o2o.wechat.replies import DESCRIPTION_MAX_BYTES, TITLE_MAX_BYTES

Crs = Literal["wgs84", "gcj02", "bd09"]
Code = Annotated[str, StringConstraints(strip_whitespace=True,
                                        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
T = TypeVar("T")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r} (use an IANA name, e.g. Asia/Shanghai)") \
            from exc
    return value


def _https(value: str, *, image: bool) -> str:
    if value == "":
        return value
    if len(value) > 500 or any(c.isspace() for c in value):
        raise ValueError("must be a URL of at most 500 characters without spaces")
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("must be an https:// URL (WeChat refuses to load plain http)")
    if image and not parts.path.lower().endswith(IMAGE_SUFFIXES):
        raise ValueError("must point to a .jpg, .jpeg or .png image (WeChat shows JPG or PNG)")
    return value


def _image(value: str) -> str:
    return _https(value, image=True)


def _link(value: str) -> str:
    return _https(value, image=False)


TimeZoneName = Annotated[str, AfterValidator(_timezone)]
ImageUrl = Annotated[str, AfterValidator(_image)]
LinkUrl = Annotated[str, AfterValidator(_link)]


class Strict(BaseModel):
    """Unknown fields are an error, not silently dropped (a typo must not look saved)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _hours_form(value: Any) -> Any:
    """Either form of weekly hours passes here; o2o.catalog.hours judges the content."""
    if value is None or isinstance(value, str | dict):
        return value
    raise ValueError(f"expected {HOURS_FORMS}")


#: Weekly hours as the compact text files use, or as an object; null = unknown.
WeeklyHoursIn = Annotated[dict[str, Any] | str | None, BeforeValidator(_hours_form)]


class _OutletFields(Strict):
    # Opening hours are judged by o2o.catalog.hours in the service (one validator, not two).
    @field_validator("tags", check_fields=False)
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else sorted(set(value))


class OutletCreate(_OutletFields):
    """A new outlet. `crs` is required: the datum of lat/lng is never guessed."""

    code: Code
    name: Name
    address: Annotated[str, Field(max_length=500)] = ""
    city: Annotated[str, Field(max_length=100)] = ""
    district: Annotated[str, Field(max_length=100)] = ""
    phone: Annotated[str, Field(max_length=50)] = ""
    lat: Latitude
    lng: Longitude
    crs: Crs
    timezone: TimeZoneName = "Asia/Shanghai"
    region: Code | None = Field(None, description="Region code")
    hours: WeeklyHoursIn = Field(
        None, description=f"Weekly hours, {HOURS_FORMS}; null = unknown")
    exceptions: dict[str, Any] = Field(
        default_factory=dict, description='Dated exceptions {"2026-10-01": []}')
    tags: Annotated[list[Tag], Field(max_length=20)] = Field(default_factory=list)
    image_url: ImageUrl = ""
    geofence_radius_m: Annotated[int, Field(gt=0, le=5000)] = 150
    geofence_wkt: str | None = Field(None, max_length=20_000,
                                     description="WGS-84 polygon replacing the radius")


#: Outlet fields that may be set to null in an update; the others may only be omitted.
OUTLET_NULLABLE = frozenset({"region", "hours", "geofence_wkt"})


class OutletUpdate(_OutletFields):
    """A partial update: omitted fields stay; a position needs lat, lng and crs together."""

    name: Name | None = None
    address: Annotated[str, Field(max_length=500)] | None = None
    city: Annotated[str, Field(max_length=100)] | None = None
    district: Annotated[str, Field(max_length=100)] | None = None
    phone: Annotated[str, Field(max_length=50)] | None = None
    lat: Latitude | None = None
    lng: Longitude | None = None
    crs: Crs | None = None
    timezone: TimeZoneName | None = None
    region: Code | None = None
    hours: WeeklyHoursIn = None
    exceptions: dict[str, Any] | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] | None = None
    image_url: ImageUrl | None = None
    geofence_radius_m: Annotated[int, Field(gt=0, le=5000)] | None = None
    geofence_wkt: Annotated[str, Field(max_length=20_000)] | None = None

    @field_validator("*", mode="after")
    @classmethod
    def _not_null(cls, value: Any, info: Any) -> Any:
        if value is None and info.field_name not in OUTLET_NULLABLE:
            raise ValueError("may be omitted but not null")
        return value

    def changes(self) -> dict[str, Any]:
        """Only what the caller sent."""
        return {k: getattr(self, k) for k in self.model_fields_set}


class OutletStatusIn(Strict):
    """Open, temporarily closed until a date (required, checked by the service), or closed."""

    status: OutletStatus
    reopen_on: date | None = Field(None, description="Required when temporarily_closed")


class OutletRead(BaseModel):
    """An outlet as the admin API shows it; positions in WGS-84 (the stored datum)."""

    id: int
    code: str
    name: str
    address: str
    city: str
    district: str
    phone: str
    lat: float
    lng: float
    crs: Literal["wgs84"] = "wgs84"
    timezone: str
    region: str | None
    status: OutletStatus
    reopen_on: date | None
    hours: dict[str, Any] | None
    exceptions: dict[str, Any]
    tags: list[str]
    image_url: str
    geofence_radius_m: int
    geofence_wkt: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Outlet) -> OutletRead:
        return cls(
            id=row.id, code=row.code, name=row.name, address=row.address, city=row.city,
            district=row.district, phone=row.phone, lat=row.lat, lng=row.lng,
            timezone=row.timezone, region=row.region.code if row.region else None,
            status=row.status, reopen_on=row.reopen_on, hours=row.hours,
            exceptions=row.exceptions or {}, tags=list(row.tags or []), image_url=row.image_url,
            geofence_radius_m=row.geofence_radius_m, geofence_wkt=row.geofence_wkt,
            version=row.version, created_at=row.created_at, updated_at=row.updated_at)


class Page(BaseModel, Generic[T]):
    """One page of a scoped list, and how many match in all."""

    items: list[T]
    total: int
    limit: int
    offset: int


def _utf8_max(limit: int) -> Any:
    def check(value: str) -> str:
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > limit:
            raise ValueError(f"at most {limit} bytes in UTF-8 as WeChat counts them (a Chinese "
                             f"character is 3); this is {size}")
        return value
    return AfterValidator(check)


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1),
                  _utf8_max(TITLE_MAX_BYTES)]
Description = Annotated[str, _utf8_max(DESCRIPTION_MAX_BYTES)]
HHMM = Annotated[str, StringConstraints(pattern=_HHMM.pattern)]
Weekday = Annotated[int, Field(ge=1, le=7)]


class _PromotionFields(Strict):
    @field_validator("weekdays", check_fields=False)
    @classmethod
    def _weekdays(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else sorted(set(value))

    @field_validator("outlets", check_fields=False)
    @classmethod
    def _outlets(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(value))


class PromotionCreate(_PromotionFields):
    """A new promotion (a draft until published). Who it reaches: `scope` "all", "region"
    with `region`, or "outlets" with `outlets` (codes), always within the caller's scope."""

    code: Code
    title: Title
    description: Description = ""
    image_url: ImageUrl = Field("", description="https, .jpg/.jpeg/.png; 360x200 shows best")
    link_url: LinkUrl = ""
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    weekdays: Annotated[list[Weekday], Field(max_length=7)] = Field(
        default_factory=list, description="ISO weekdays 1=Mon..7=Sun; empty = every day")
    daily_start: HHMM | None = None
    daily_end: HHMM | None = None
    timezone: TimeZoneName | None = Field(
        None, description="Zone of the schedule; null = each outlet's own zone")
    priority: Annotated[int, Field(ge=-1000, le=1000)] = 0
    scope: PromotionScope
    region: Code | None = None
    outlets: Annotated[list[Code], Field(max_length=1000)] = Field(default_factory=list)
    coupon_enabled: bool = False
    coupon_total: Annotated[int, Field(ge=0, le=INT4_MAX)] | None = Field(None, description="null = unlimited")
    coupon_per_customer: Annotated[int, Field(ge=1, le=100)] = 1
    coupon_valid_days: Annotated[int, Field(ge=1, le=365)] = 7


#: Promotion fields that may be set to null in an update.
PROMOTION_NULLABLE = frozenset({"valid_from", "valid_until", "daily_start", "daily_end",
                                "timezone", "region", "coupon_total"})


class PromotionUpdate(_PromotionFields):
    """A partial update; omitted fields stay. Status changes go through their own route."""

    title: Title | None = None
    description: Description | None = None
    image_url: ImageUrl | None = None
    link_url: LinkUrl | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    weekdays: Annotated[list[Weekday], Field(max_length=7)] | None = None
    daily_start: HHMM | None = None
    daily_end: HHMM | None = None
    timezone: TimeZoneName | None = None
    priority: Annotated[int, Field(ge=-1000, le=1000)] | None = None
    scope: PromotionScope | None = None
    region: Code | None = None
    outlets: Annotated[list[Code], Field(max_length=1000)] | None = None
    coupon_enabled: bool | None = None
    coupon_total: Annotated[int, Field(ge=0, le=INT4_MAX)] | None = None
    coupon_per_customer: Annotated[int, Field(ge=1, le=100)] | None = None
    coupon_valid_days: Annotated[int, Field(ge=1, le=365)] | None = None

    @field_validator("*", mode="after")
    @classmethod
    def _not_null(cls, value: Any, info: Any) -> Any:
        if value is None and info.field_name not in PROMOTION_NULLABLE:
            raise ValueError("may be omitted but not null")
        return value

    def changes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.model_fields_set}


class PromotionStatusIn(Strict):
    """draft -> published -> archived; published -> draft withdraws; archived -> draft reuses."""

    status: PromotionStatus


class PromotionRead(BaseModel):
    id: int
    code: str
    title: str
    description: str
    image_url: str
    link_url: str
    valid_from: datetime | None
    valid_until: datetime | None
    weekdays: list[int]
    daily_start: str | None
    daily_end: str | None
    timezone: str | None
    priority: int
    status: PromotionStatus
    scope: PromotionScope
    region: str | None
    outlets: list[str]
    coupon_enabled: bool
    coupon_total: int | None
    coupon_claimed: int
    coupon_per_customer: int
    coupon_valid_days: int
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Promotion) -> PromotionRead:
        return cls(
            id=row.id, code=row.code, title=row.title, description=row.description,
            image_url=row.image_url, link_url=row.link_url, valid_from=row.valid_from,
            valid_until=row.valid_until, weekdays=list(row.weekdays or []),
            daily_start=row.daily_start, daily_end=row.daily_end, timezone=row.timezone,
            priority=row.priority, status=row.status, scope=row.scope,
            region=row.region.code if row.region else None,
            outlets=sorted(o.code for o in row.outlets if o.deleted_at is None),
            coupon_enabled=row.coupon_enabled,
            coupon_total=row.coupon_total, coupon_claimed=row.coupon_claimed,
            coupon_per_customer=row.coupon_per_customer,
            coupon_valid_days=row.coupon_valid_days, version=row.version,
            created_at=row.created_at, updated_at=row.updated_at)
