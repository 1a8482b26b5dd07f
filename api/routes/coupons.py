"""POST /api/v1/coupons/redeem: staff redeem a customer's coupon at their till, once."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api.deps import CurrentStaff, DbSession
from o2o.coupons.schemas import CouponRead, CouponRedeem
from o2o.coupons.service import redeem

router = APIRouter(prefix="/api/v1/coupons", tags=["coupons"])

REFUSALS = {
    401: {"description": "Missing, invalid, expired or revoked staff token"},
    404: {"description": "`coupon_unknown`: no such code; `not_found`: the outlet is unknown "
                         "or outside the caller's scope"},
    409: {"description": "`coupon_already_redeemed` (details: redeemed_at, outlet_id) or "
                         "`coupon_wrong_outlet`: the offer does not run at this outlet"},
    410: {"description": "`coupon_expired` (details: expired_at)"},
    422: {"description": "Malformed body, or `outlet_required`"},
}


@router.post("/redeem", response_model=CouponRead, responses=REFUSALS,
             summary="Redeem a coupon at one of the caller's outlets (exactly once)")
def redeem_coupon(coupon_in: CouponRedeem, principal: CurrentStaff,
                  session: DbSession) -> CouponRead:
    coupon = redeem(session, code=coupon_in.code, outlet_id=coupon_in.outlet_id,
                    principal=principal, now=datetime.now(UTC))
    session.commit()
    return CouponRead.of(coupon)
