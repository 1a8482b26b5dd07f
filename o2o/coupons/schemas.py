"""The staff coupon API's input and output shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from o2o.coupons.codes import display_code
from o2o.coupons.models import Coupon
from o2o.db.schema import INT4_MAX
from o2o.errors import O2OError


class CouponRedeem(BaseModel):
    """What the till sends: the code as typed or scanned, and which outlet is redeeming."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64, examples=["7KQ2M-XW9RT"])
    outlet_id: int | None = Field(
        None, ge=1, le=INT4_MAX, description="Required unless the caller is assigned exactly one outlet.")


class CouponRead(BaseModel):
    """A coupon, with what to hand over."""

    code: str
    status: str
    promotion_id: int
    promotion_title: str
    claimed_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None
    redeemed_outlet_id: int | None
    redeemed_by: int | None

    @classmethod
    def of(cls, coupon: Coupon) -> CouponRead:
        return cls(code=display_code(coupon.code), status=str(coupon.status),
                   promotion_id=coupon.promotion_id, promotion_title=coupon.promotion.title,
                   claimed_at=coupon.claimed_at, expires_at=coupon.expires_at,
                   redeemed_at=coupon.redeemed_at, redeemed_outlet_id=coupon.redeemed_outlet_id,
                   redeemed_by=coupon.redeemed_by)


class Refusal(BaseModel):
    """Why a coupon would not be redeemed: the error redeeming it would answer with."""

    code: str
    message: str
    details: dict[str, Any] | list[Any] | None = None


class CouponCheck(CouponRead):
    """A coupon as the till sees it before honouring it at one outlet."""

    outlet_id: int
    redeemable: bool
    refusal: Refusal | None

    @classmethod
    def at(cls, coupon: Coupon, *, outlet_id: int, refusal: O2OError | None) -> CouponCheck:
        why = None if refusal is None else Refusal(
            code=refusal.code, message=refusal.message, details=refusal.details)
        return cls(**CouponRead.of(coupon).model_dump(), outlet_id=outlet_id,
                   redeemable=refusal is None, refusal=why)
