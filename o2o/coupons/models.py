"""Coupons: a short unguessable code per claim, redeemed at most once."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from o2o.catalog.models import Promotion
from o2o.db.schema import Base, UTCDateTime, utcnow


class CouponStatus(StrEnum):
    CLAIMED = "claimed"
    REDEEMED = "redeemed"


class Coupon(Base):
    __tablename__ = "coupons"
    __table_args__ = (
        # claim_no runs 1..per-customer limit: concurrent claims beyond it collide here.
        sa.UniqueConstraint("promotion_id", "customer_hash", "claim_no",
                            name="uq_coupons_claim"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    promotion_id: Mapped[int] = mapped_column(sa.ForeignKey("promotions.id"), index=True)
    customer_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    claim_no: Mapped[int] = mapped_column(sa.Integer, default=1)
    #: The outlet the customer claimed from (the page they were on), if any.
    outlet_id: Mapped[int | None] = mapped_column(sa.ForeignKey("outlets.id"), nullable=True)
    query_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True, index=True)
    status: Mapped[CouponStatus] = mapped_column(
        sa.Enum(CouponStatus, name="coupon_status", native_enum=False, length=16,
                values_callable=lambda e: [m.value for m in e]),
        default=CouponStatus.CLAIMED)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    redeemed_outlet_id: Mapped[int | None] = mapped_column(sa.ForeignKey("outlets.id"),
                                                           nullable=True)
    redeemed_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"), nullable=True)

    promotion: Mapped[Promotion] = relationship(lazy="joined")
