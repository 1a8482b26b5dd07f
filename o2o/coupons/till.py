"""The till's answer to a scanned or typed code, as plain data for a page in large type.

A view over `check()`: the same lookup, scope and refusals as the redemption API, worded
for a cashier (Chinese, the outlet's local time, where an earlier redemption happened).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from o2o.catalog.models import Outlet
from o2o.coupons.codes import display_code, normalize_code
from o2o.coupons.errors import CouponUnknown
from o2o.coupons.models import Coupon
from o2o.coupons.service import check
from o2o.staff.principal import Principal


class Verdict(StrEnum):
    VALID = "valid"  # may be redeemed here now: confirm
    REDEEMED = "redeemed"  # just redeemed by this caller here
    ALREADY_REDEEMED = "already_redeemed"
    WRONG_OUTLET = "wrong_outlet"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


#: The large headline per verdict, and the refusal code `check()` gives for it.
HEADLINES = {
    Verdict.VALID: "可以核销",
    Verdict.REDEEMED: "核销成功",
    Verdict.ALREADY_REDEEMED: "已被使用",
    Verdict.WRONG_OUTLET: "本店不适用",
    Verdict.EXPIRED: "已过期",
    Verdict.UNKNOWN: "券码无效",
}
_BY_REFUSAL = {"coupon_already_redeemed": Verdict.ALREADY_REDEEMED,
               "coupon_wrong_outlet": Verdict.WRONG_OUTLET,
               "coupon_expired": Verdict.EXPIRED}


@dataclass(frozen=True, slots=True)
class TillResult:
    verdict: Verdict
    headline: str
    #: The canonical code to confirm with (only when VALID), and its grouped display form.
    code: str | None
    shown_code: str
    promotion_title: str | None
    #: (label, value) lines under the headline: claim time, expiry, when and where redeemed.
    facts: list[tuple[str, str]]

    @property
    def ok(self) -> bool:
        return self.verdict in (Verdict.VALID, Verdict.REDEEMED)


def till_result(session: Session, *, code: str, outlet_id: int | None, principal: Principal,
                now: datetime, just_redeemed: bool = False) -> TillResult:
    """What the till shows for `code` at `outlet_id`. `just_redeemed`: the caller has just
    confirmed it, so a redemption by them at this outlet reads as success, not a refusal.
    An outlet out of scope (or none chosen when several are possible) raises as `check()`."""
    try:
        coupon, outlet, refusal = check(session, code=code, outlet_id=outlet_id,
                                        principal=principal, now=now)
    except CouponUnknown:
        canonical = normalize_code(code)
        return TillResult(Verdict.UNKNOWN, HEADLINES[Verdict.UNKNOWN], None,
                          display_code(canonical) if canonical else code.strip()[:64], None,
                          [("说明", "没有这个券码，请核对后重试。")])
    verdict = Verdict.VALID if refusal is None else _BY_REFUSAL[refusal.code]
    if verdict is Verdict.ALREADY_REDEEMED and just_redeemed and \
            coupon.redeemed_by == principal.staff_id and coupon.redeemed_outlet_id == outlet.id:
        verdict = Verdict.REDEEMED
    return TillResult(verdict, HEADLINES[verdict],
                      coupon.code if verdict is Verdict.VALID else None,
                      display_code(coupon.code), coupon.promotion.title,
                      _facts(session, coupon, outlet, verdict))


def _facts(session: Session, coupon: Coupon, outlet: Outlet,
           verdict: Verdict) -> list[tuple[str, str]]:
    tz = ZoneInfo(outlet.timezone)

    def local(at: datetime) -> str:
        return f"{at.astimezone(tz):%Y-%m-%d %H:%M}"

    facts = [("领取时间", local(coupon.claimed_at))]
    if verdict in (Verdict.REDEEMED, Verdict.ALREADY_REDEEMED):
        where = session.get(Outlet, coupon.redeemed_outlet_id) \
            if coupon.redeemed_outlet_id is not None else None
        facts += [("核销时间", local(coupon.redeemed_at) if coupon.redeemed_at else "—"),
                  ("核销门店", f"{where.name}（{where.code}）" if where else "—")]
    elif verdict is Verdict.EXPIRED:
        facts.append(("过期时间", local(coupon.expires_at)))
    else:
        facts.append(("有效期至", local(coupon.expires_at)))
    if verdict is Verdict.WRONG_OUTLET:
        facts.append(("说明", f"该优惠不在{outlet.name}使用。"))
    return facts
