"""Staff at the till: look a customer's coupon up (GET /api/v1/coupons/{code}) and redeem it
(POST /api/v1/coupons/redeem), once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.auth import StaffRoute
from api.deps import CurrentStaff, DbSession, ReadDbSession
from o2o.coupons.schemas import CouponCheck, CouponRead, CouponRedeem
from o2o.coupons.service import check, redeem

router = APIRouter(prefix="/api/v1/coupons", tags=["coupons"], route_class=StaffRoute)

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


LOOKUP_REFUSALS = {k: v for k, v in REFUSALS.items() if k in (401, 404, 422)}


@router.get("/{code}", response_model=CouponCheck, responses=LOOKUP_REFUSALS,
            summary="Look a coupon up before honouring it: whether it would be redeemed at "
                    "one of the caller's outlets now, and if not why (nothing is changed)")
def check_coupon(
    code: Annotated[str, Path(min_length=1, max_length=64, examples=["7KQ2M-XW9RT"])],
    principal: CurrentStaff, session: ReadDbSession,
    outlet_id: Annotated[int | None, Query(
        ge=1, description="Required unless the caller is assigned exactly one outlet.")] = None,
) -> CouponCheck:
    coupon, outlet, refusal = check(session, code=code, outlet_id=outlet_id,
                                    principal=principal, now=datetime.now(UTC))
    return CouponCheck.at(coupon, outlet_id=outlet.id, refusal=refusal)
