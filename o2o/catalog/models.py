"""Catalog tables: regions, outlets, promotions, and the change feed workers poll."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from o2o.db.schema import Base, GeoMultiPolygon, GeoPoint, UTCDateTime, point_ewkt, utcnow


class OutletStatus(StrEnum):
    OPEN = "open"
    TEMPORARILY_CLOSED = "temporarily_closed"
    CLOSED = "closed"


class PromotionStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class PromotionScope(StrEnum):
    ALL = "all"
    REGION = "region"
    OUTLETS = "outlets"


def _enum(enum: type[StrEnum], name: str) -> sa.Enum:
    # Stored as VARCHAR + CHECK on every backend: adding a value is a plain migration.
    return sa.Enum(enum, name=name, native_enum=False, length=32,
                   values_callable=lambda e: [m.value for m in e])


class Region(Base):
    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Asia/Shanghai")
    #: WGS-84 MultiPolygon (EWKT text on SQLite); see o2o.catalog.boundary.
    boundary: Mapped[Any | None] = mapped_column(GeoMultiPolygon, nullable=True)
    #: A deactivated region takes no new outlets, staff or imports; what it has stays.
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    version: Mapped[int] = mapped_column(sa.Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}


class Outlet(Base):
    __tablename__ = "outlets"
    __table_args__ = (
        sa.CheckConstraint("lat BETWEEN -90 AND 90 AND lng BETWEEN -180 AND 180", name="lat_lng"),
        sa.CheckConstraint("geofence_radius_m > 0 AND geofence_radius_m <= 5000", name="geofence"),
        sa.Index("ix_outlets_region_status", "region_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    address: Mapped[str] = mapped_column(sa.String(500), default="")
    city: Mapped[str] = mapped_column(sa.String(100), default="", index=True)
    district: Mapped[str] = mapped_column(sa.String(100), default="")
    phone: Mapped[str] = mapped_column(sa.String(50), default="")
    #: Canonical WGS-84 coordinates; `location` mirrors them for PostGIS queries.
    lat: Mapped[float] = mapped_column(sa.Float)
    lng: Mapped[float] = mapped_column(sa.Float)
    location: Mapped[Any | None] = mapped_column(GeoPoint, nullable=True)
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Asia/Shanghai")
    region_id: Mapped[int | None] = mapped_column(sa.ForeignKey("regions.id"), nullable=True)
    status: Mapped[OutletStatus] = mapped_column(_enum(OutletStatus, "outlet_status"),
                                                 default=OutletStatus.OPEN)
    reopen_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    #: Weekly hours {"mon": [["07:00","22:00"]], ...}; None means unknown (not "closed").
    hours: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    #: Dated exceptions {"2026-10-01": [], "2026-12-24": [["10:00","18:00"]]}.
    exceptions: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    image_url: Mapped[str] = mapped_column(sa.String(500), default="")
    geofence_radius_m: Mapped[int] = mapped_column(sa.Integer, default=150)
    #: Optional WKT polygon (WGS-84) that replaces the radius for visit detection.
    geofence_wkt: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    region: Mapped[Region | None] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}

    def set_position(self, lat: float, lng: float) -> None:
        """Move the outlet (WGS-84); keeps the spatial column in step."""
        self.lat, self.lng = lat, lng
        self.location = point_ewkt(lat, lng)


promotion_outlets = sa.Table(
    "promotion_outlets",
    Base.metadata,
    sa.Column("promotion_id", sa.ForeignKey("promotions.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("outlet_id", sa.ForeignKey("outlets.id", ondelete="CASCADE"), primary_key=True),
)


class Promotion(Base):
    __tablename__ = "promotions"
    __table_args__ = (
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_from IS NULL OR valid_until > valid_from",
            name="validity",
        ),
        sa.CheckConstraint("coupon_total IS NULL OR coupon_total >= 0", name="coupon_total"),
        sa.CheckConstraint("coupon_claimed >= 0", name="coupon_claimed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.String(1000), default="")
    image_url: Mapped[str] = mapped_column(sa.String(500), default="")
    link_url: Mapped[str] = mapped_column(sa.String(500), default="")
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: ISO weekdays 1=Mon..7=Sun; empty means every day.
    weekdays: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    daily_start: Mapped[str | None] = mapped_column(sa.String(5), nullable=True)
    daily_end: Mapped[str | None] = mapped_column(sa.String(5), nullable=True)
    #: IANA zone for the schedule; None evaluates it in each outlet's own zone.
    timezone: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    priority: Mapped[int] = mapped_column(sa.Integer, default=0)
    status: Mapped[PromotionStatus] = mapped_column(_enum(PromotionStatus, "promotion_status"),
                                                    default=PromotionStatus.DRAFT)
    scope: Mapped[PromotionScope] = mapped_column(_enum(PromotionScope, "promotion_scope"),
                                                  default=PromotionScope.ALL)
    region_id: Mapped[int | None] = mapped_column(sa.ForeignKey("regions.id"), nullable=True)
    coupon_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    #: None means unlimited.
    coupon_total: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    coupon_claimed: Mapped[int] = mapped_column(sa.Integer, default=0)
    coupon_per_customer: Mapped[int] = mapped_column(sa.Integer, default=1)
    coupon_valid_days: Mapped[int] = mapped_column(sa.Integer, default=7)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"), nullable=True)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    region: Mapped[Region | None] = relationship(lazy="joined")
    outlets: Mapped[list[Outlet]] = relationship(secondary=promotion_outlets, lazy="selectin")

    __mapper_args__ = {"version_id_col": version}


class CatalogChange(Base):
    """Append-only change feed: workers poll max(seq) and patch their index incrementally."""

    __tablename__ = "catalog_changes"

    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(sa.String(16))  # outlet | promotion | region
    entity_id: Mapped[int] = mapped_column(sa.Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
