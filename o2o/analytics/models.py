"""The append-only event log (what outlives raw events is in `o2o.analytics.rollup_models`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from o2o.db.schema import Base, UTCDateTime, utcnow


class EventType(StrEnum):
    QUERY = "query"
    IMPRESSION = "impression"
    CLICK = "click"
    CLAIM = "claim"
    REDEMPTION = "redemption"
    VISIT = "visit"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"


class Event(Base):
    """One thing that happened. Never updated except by retention (positions dropped).

    A `query` row with an outlet is also that outlet's impression: the chat reply's first
    card is the nearest outlet, whose region and distance the query row names anyway, so
    the reply writes one row for both (`wechat.handlers.location`). Readers count it as a
    query (without outlet or offer) and an impression (`analytics.aggregate.rows_of`);
    query rows written before carry no outlet, their impressions are rows of their own."""

    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_type_time", "type", "occurred_at"),
        sa.Index("ix_events_region_time", "region_id", "occurred_at"),
        sa.Index("ix_events_outlet_time", "outlet_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    type: Mapped[EventType] = mapped_column(
        sa.Enum(EventType, name="event_type", native_enum=False, length=16,
                values_callable=lambda e: [m.value for m in e]))
    #: Keyed hash of the openid (never the openid itself).
    customer_hash: Mapped[str | None] = mapped_column(sa.String(64), nullable=True, index=True)
    #: Ties every step of one chat query together (query → impression → click → claim ...).
    query_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True, index=True)
    outlet_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    promotion_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    region_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    #: Position coarsened to ~100 m (WGS-84, 3 decimals); dropped by retention.
    lat: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    lng: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    #: Demand cell (H3) kept after positions are purged; coarse by construction.
    cell: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    distance_m: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    channel: Mapped[str] = mapped_column(sa.String(16), default="wechat")
    #: Makes a step count once: WeChat retries, double clicks, one visit per day.
    dedup_key: Mapped[str | None] = mapped_column(sa.String(160), nullable=True, unique=True)
    props: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
