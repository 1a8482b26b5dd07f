"""Staff at the till: look a customer's coupon up (GET /api/v1/coupons/{code}) and redeem it
(POST /api/v1/coupons/redeem), once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from api.auth import StaffRoute
from api.deps import CurrentStaff, DbSession, ReadDbSession
from api.params import RowId
from api.responses import STAFF, refusals
from o2o.coupons.schemas import CouponCheck, CouponRead, CouponRedeem
from o2o.coupons.service import check, redeem
from o2o.ratelimit import limiter


def count_try(request: Request, principal: CurrentStaff) -> None:
    """Codes are short: a staff account may only try so many per window (guessing codes),
    look-ups and redemptions alike, shared by all its tokens and workers."""
    limiter(request.app.state.services, "coupon-tries-staff").check(
        str(principal.staff_id), "Too many coupon look-ups or redemptions; wait and retry.")


router = APIRouter(prefix="/api/v1/coupons", tags=["coupons"], route_class=StaffRoute,
                   responses=STAFF, dependencies=[Depends(count_try)])

LOOKUP_REFUSALS = refusals(
    404, 422,
    s404="`coupon_unknown`: no such code; `not_found`: the outlet is unknown or outside the "
         "caller's scope",
    s422="Malformed input, or `outlet_required`")
REFUSALS = LOOKUP_REFUSALS | refusals(
    409, 410,
    s409="`coupon_already_redeemed` (details: redeemed_at, outlet_id) or "
         "`coupon_wrong_outlet`: the offer does not run at this outlet",
    s410="`coupon_expired` (details: expired_at)")


@router.post("/redeem", response_model=CouponRead, responses=REFUSALS,
             summary="Redeem a coupon at one of the caller's outlets (exactly once)")
def redeem_coupon(coupon_in: CouponRedeem, principal: CurrentStaff,
                  session: DbSession) -> CouponRead:
    coupon = redeem(session, code=coupon_in.code, outlet_id=coupon_in.outlet_id,
                    principal=principal, now=datetime.now(UTC))
    session.commit()
    return CouponRead.of(coupon)


@router.get("/{code}", response_model=CouponCheck, responses=LOOKUP_REFUSALS,
            summary="Look a coupon up before honouring it: whether it would be redeemed at "
                    "one of the caller's outlets now, and if not why (nothing is changed)")
def check_coupon(
    code: Annotated[str, Path(min_length=1, max_length=64, examples=["7KQ2M-XW9RT"])],
    principal: CurrentStaff, session: ReadDbSession,
    outlet_id: Annotated[RowId | None, Query(
        description="Required unless the caller is assigned exactly one outlet.")] = None,
) -> CouponCheck:
    coupon, outlet, refusal = check(session, code=code, outlet_id=outlet_id,
                                    principal=principal, now=datetime.now(UTC))
    return CouponCheck.at(coupon, outlet_id=outlet.id, refusal=refusal)
