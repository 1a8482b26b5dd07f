"""The customer's coupon page as plain data: the offer, the coupons held, whether to claim.

A code (and its QR) is shown only to its owner: the browser that claimed it (`revealed`, see
o2o/coupons/binding.py) or, on any device, the customer WeChat OAuth identified (`owner`),
and never on a page opened from a forwarded link by anyone else: they see each coupon's status
and a sentence saying why the code is not there.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from o2o.catalog.models import Promotion, PromotionStatus
from o2o.catalog.runtime import Catalog
from o2o.coupons.codes import display_code, qr_svg
from o2o.coupons.models import Coupon, CouponStatus
from o2o.coupons.service import coupons_held
from o2o.customers.links import Link
from o2o.errors import O2OError

DEFAULT_TZ = "Asia/Shanghai"
#: Why a held coupon's code is not on the page, and what to do about it.
HIDDEN_SHARED = ("这个页面是从分享打开的，为保护券码，这里只显示券的状态。如果这是您领的券，"
                 "请回到公众号消息中打开；想要同样的优惠，请在公众号中发送您的位置。")
HIDDEN_ELSEWHERE = ("为保护券码，券码只在领取它的手机微信中显示。请在领券时用的手机上，"
                    "从公众号消息中打开这张券。")


class OfferGone(O2OError):
    """A genuine coupon link whose offer no longer exists and left the customer nothing."""

    code = "offer_gone"
    http_status = 410


@dataclass(frozen=True, slots=True)
class HeldCoupon:
    code: str | None  # grouped for reading aloud: 7KQ2M-XW9RT; None when not for this browser
    qr_svg: str | None  # only while it can still be used, and only with the code
    state: str  # 可使用 / 已使用 / 已过期
    usable: bool
    note: str  # 有效期至 ... / 已于 ... 使用


@dataclass(frozen=True, slots=True)
class CouponPage:
    title: str
    description: str
    outlet_name: str | None
    coupons: list[HeldCoupon]
    can_claim: bool
    #: Why claiming is not offered (sold out, limit reached, offer ended), if it is not.
    claim_note: str | None
    #: Why some held coupon's code is not shown here, if one is not.
    hidden_note: str | None = None


def coupon_page(session: Session, *, catalog: Catalog, link: Link, now: datetime,
                revealed: Collection[int] = (), owner: bool = False) -> CouponPage:
    """The offer behind a coupon link and this customer's coupons of it; the codes only of
    those in `revealed` (claimed in this browser), or all when the viewer is `owner` (the
    link's customer, known through OAuth), and none on a shared copy."""
    assert link.promotion_id is not None and link.customer_hash is not None
    outlet = catalog.outlet(link.outlet_id) if link.outlet_id is not None else None
    tz = ZoneInfo(outlet.timezone if outlet is not None else DEFAULT_TZ)
    held = coupons_held(session, customer_hash=link.customer_hash,
                        promotion_id=link.promotion_id)
    row = session.get(Promotion, link.promotion_id)
    if row is None or (not held and row.status != PromotionStatus.PUBLISHED):
        raise OfferGone("这个优惠已结束。")
    view = catalog.promotion(row.id)
    running = view is not None and row.coupon_enabled and \
        view.is_active(now, outlet.timezone if outlet else DEFAULT_TZ)
    note = None
    if link.shared:
        note = "这是分享来的页面，不能在这里领取。请在公众号中发送您的位置，领取您自己的优惠券。"
    elif not running:
        note = "活动未开始或已结束，暂不能领取。"
    elif len(held) >= row.coupon_per_customer:
        note = "您已领取" if row.coupon_per_customer == 1 else \
            f"每人限领 {row.coupon_per_customer} 张，您已领满。"
    elif row.coupon_total is not None and row.coupon_claimed >= row.coupon_total:
        note = "优惠券已领完，下次早点来哦。"
    coupons = [_held(c, now, tz, show=not link.shared and (owner or c.id in revealed)) for c in held]
    hidden = None
    if any(c.code is None for c in coupons):
        hidden = HIDDEN_SHARED if link.shared else HIDDEN_ELSEWHERE
    return CouponPage(title=row.title, description=row.description,
                      outlet_name=outlet.name if outlet else None, coupons=coupons,
                      can_claim=note is None, claim_note=note, hidden_note=hidden)


def _held(coupon: Coupon, now: datetime, tz: ZoneInfo, *, show: bool) -> HeldCoupon:
    code = display_code(coupon.code) if show else None
    if coupon.status == CouponStatus.REDEEMED:
        when = coupon.redeemed_at.astimezone(tz) if coupon.redeemed_at else None
        return HeldCoupon(code=code, qr_svg=None, state="已使用", usable=False,
                          note=f"已于 {when:%m月%d日 %H:%M} 使用" if when else "")
    if coupon.expires_at <= now:
        return HeldCoupon(code=code, qr_svg=None, state="已过期", usable=False,
                          note=f"已于 {coupon.expires_at.astimezone(tz):%m月%d日 %H:%M} 过期")
    until = f"有效期至 {coupon.expires_at.astimezone(tz):%m月%d日 %H:%M}"
    return HeldCoupon(code=code, qr_svg=qr_svg(coupon.code) if show else None, state="可使用",
                      usable=True, note=f"{until}，到店出示给店员核销" if show else until)
