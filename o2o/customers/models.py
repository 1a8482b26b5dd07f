"""A customer is only a keyed hash of the openid; positions are coarse and expire."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from o2o.db.schema import Base, UTCDateTime, utcnow


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: HMAC-SHA256(customer_hash_key, openid), hex; the raw openid is never stored.
    customer_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    subscribed: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    #: Whether the customer enabled WeChat's location reporting (LOCATION events arrive).
    reports_location: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    last_lat: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    last_lng: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    last_located_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    location_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True,
                                                                 index=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
