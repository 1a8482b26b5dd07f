"""Funnel cells: pre-aggregated counts and customer sets that make range queries fast.

A cell holds, for one local day (and hour) and one type, the number of events and the
sorted set of pseudonymous customer keys seen. Sets merge exactly, so unique customers for
any range or grouping stay exact. Raw events remain the source of truth; cells are a cache
filled by `o2o.analytics.rollup` and never change a number.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from o2o.db.schema import Base, UTCDateTime, utcnow

#: Grains of a cell: per region and local hour (every event); per outlet, promotion and local
#: day (outlet rankings, promotions); per outlet and local hour (one outlet's hours).
REGION_HOUR = "region"
OUTLET_DAY = "outlet"
OUTLET_HOUR = "outlet_h"
#: Stored in place of "none" so the natural key is a real unique constraint on every backend.
NONE_ID = 0
WHOLE_DAY = -1


class FunnelCell(Base):
    """Counts and customer keys of one (grain, local day, hour, type, region, outlet, promo)."""

    __tablename__ = "funnel_cells"
    __table_args__ = (
        sa.UniqueConstraint("grain", "day", "hour", "type", "region_id", "outlet_id",
                            "promotion_id", name="uq_funnel_cells_key"),
        sa.Index("ix_funnel_cells_grain_region_day", "grain", "region_id", "day"),
        sa.Index("ix_funnel_cells_grain_outlet_day", "grain", "outlet_id", "day"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    grain: Mapped[str] = mapped_column(sa.String(8))
    #: Local day and hour in the zone of the event's outlet (else its region, else Shanghai).
    day: Mapped[date] = mapped_column(sa.Date)
    hour: Mapped[int] = mapped_column(sa.SmallInteger)
    type: Mapped[str] = mapped_column(sa.String(16))
    region_id: Mapped[int] = mapped_column(sa.Integer)
    outlet_id: Mapped[int] = mapped_column(sa.Integer)
    promotion_id: Mapped[int] = mapped_column(sa.Integer)
    count: Mapped[int] = mapped_column(sa.Integer)
    #: Sorted, distinct customer keys (little-endian int64), see `o2o.analytics.cells`.
    customers: Mapped[bytes] = mapped_column(sa.LargeBinary)


class RollupState(Base):
    """How far the cells reach: every event with id <= `max_event_id` is in them."""

    __tablename__ = "funnel_rollup_state"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    max_event_id: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
