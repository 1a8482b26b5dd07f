"""Claiming a promotion's coupon and redeeming it in store, exactly once.

Limits hold under concurrency without locks held across requests: the total by a
conditional increment of `promotions.coupon_claimed`, the per-customer limit by the unique
(promotion, customer, claim_no) slot, and redemption by a conditional UPDATE whose row
count says who won. Both run in the caller's transaction; the caller commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from o2o.analytics.events import record_event
from o2o.analytics.models import EventType
from o2o.catalog.models import Outlet, OutletStatus, Promotion, PromotionScope, PromotionStatus
from o2o.coupons.codes import display_code, new_code, normalize_code
from o2o.coupons.errors import (
    CouponAlreadyRedeemed,
    CouponExpired,
    CouponLimitReached,
    CouponOutletRequired,
    CouponsSoldOut,
    CouponUnavailable,
    CouponUnknown,
    CouponWrongOutlet,
)
from o2o.coupons.models import Coupon, CouponStatus
from o2o.errors import O2OError
from o2o.staff.policy import not_found
from o2o.staff.principal import Principal

if TYPE_CHECKING:
    from o2o.catalog.runtime import Catalog

#: Extra attempts at a free claim slot / an unused code (each miss means a slot was taken).
CLAIM_ATTEMPTS = 5


def claim(session: Session, *, promotion_id: int, customer_hash: str, outlet_id: int | None,
          query_id: str | None, now: datetime, catalog: Catalog | None = None) -> Coupon:
    """A new coupon for this customer, within the promotion's total and per-customer limits.

    With `catalog`, the promotion must also be running right now at that outlet (weekdays,
    hours), as the page showed it.
    """
    promo = session.get(Promotion, promotion_id)
    if promo is None or promo.status != PromotionStatus.PUBLISHED or not promo.coupon_enabled:
        raise CouponUnavailable("This offer has no coupon to claim.")
    if (promo.valid_from and promo.valid_from > now) or \
            (promo.valid_until and promo.valid_until <= now):
        raise CouponUnavailable("This offer is not running now.")
    outlet = _claim_outlet(session, promo, outlet_id)
    if catalog is not None:
        _check_running(catalog, promo.id, outlet_id, now)
    for _ in range(promo.coupon_per_customer + CLAIM_ATTEMPTS):
        held = session.scalar(sa.select(sa.func.count()).select_from(Coupon).where(
            Coupon.promotion_id == promo.id, Coupon.customer_hash == customer_hash)) or 0
        if held >= promo.coupon_per_customer:
            raise CouponLimitReached(
                "You already hold this coupon." if promo.coupon_per_customer == 1 else
                f"You already hold {held} of these coupons, the most one customer may claim.",
                details={"held": held, "limit": promo.coupon_per_customer})
        coupon = Coupon(code=new_code(), promotion_id=promo.id, customer_hash=customer_hash,
                        claim_no=held + 1, outlet_id=outlet.id if outlet else None,
                        query_id=query_id, status=CouponStatus.CLAIMED, claimed_at=now,
                        expires_at=_expiry(promo, now))
        try:
            with session.begin_nested():
                taken = session.execute(
                    sa.update(Promotion)
                    .where(Promotion.id == promo.id,
                           sa.or_(Promotion.coupon_total.is_(None),
                                  Promotion.coupon_claimed < Promotion.coupon_total))
                    .values(coupon_claimed=Promotion.coupon_claimed + 1)
                    .execution_options(synchronize_session=False))
                if taken.rowcount != 1:
                    raise CouponsSoldOut("All coupons of this offer have been claimed.")
                session.add(coupon)
        except sa.exc.IntegrityError:
            # A concurrent claim took this slot (or, once in 2^50, this code): look again.
            continue
        finally:
            session.expire(promo, ["coupon_claimed"])
        record_event(session, type=EventType.CLAIM, customer_hash=customer_hash,
                     query_id=query_id, outlet_id=coupon.outlet_id, promotion_id=promo.id,
                     region_id=outlet.region_id if outlet else promo.region_id, at=now,
                     channel="h5", dedup_key=f"claim:{coupon.id}")
        return coupon
    raise CouponLimitReached("You already hold as many of these coupons as one customer may.")


def _claim_outlet(session: Session, promo: Promotion, outlet_id: int | None) -> Outlet | None:
    if outlet_id is None:
        return None
    outlet = session.get(Outlet, outlet_id)
    if outlet is None or outlet.deleted_at is not None or outlet.status != OutletStatus.OPEN \
            or not promotion_applies(promo, outlet):
        raise CouponUnavailable("This offer is not available at this outlet.")
    return outlet


def _check_running(catalog: Catalog, promotion_id: int, outlet_id: int | None,
                   now: datetime) -> None:
    view = catalog.promotion(promotion_id)
    outlet = catalog.outlet(outlet_id) if outlet_id is not None else None
    tz = outlet.timezone if outlet is not None else "Asia/Shanghai"
    if view is None or not view.is_active(now, tz):
        raise CouponUnavailable("This offer is not running now.")


def _expiry(promo: Promotion, now: datetime) -> datetime:
    """`coupon_valid_days` from the claim, but never past the promotion's own end."""
    until = now + timedelta(days=promo.coupon_valid_days)
    return min(until, promo.valid_until) if promo.valid_until else until


def promotion_applies(promo: Promotion, outlet: Outlet) -> bool:
    """Does the promotion run at this outlet (its scope: all, a region, listed outlets)?"""
    if promo.scope == PromotionScope.ALL:
        return True
    if promo.scope == PromotionScope.REGION:
        return promo.region_id is not None and promo.region_id == outlet.region_id
    return any(o.id == outlet.id for o in promo.outlets)


def redeem(session: Session, *, code: str, outlet_id: int | None, principal: Principal,
           now: datetime) -> Coupon:
    """Mark the coupon used at `outlet_id` by `principal`; exactly one caller ever succeeds.

    Refusals, each with its own code: the outlet is unknown or outside the caller's scope
    (404, like any out-of-scope thing), the code is unknown, already redeemed (with when and
    where), not valid at this outlet, or expired.
    """
    coupon, outlet, refusal = check(session, code=code, outlet_id=outlet_id,
                                    principal=principal, now=now)
    if refusal is not None:
        raise refusal
    won = session.execute(
        sa.update(Coupon)
        .where(Coupon.id == coupon.id, Coupon.status == CouponStatus.CLAIMED)
        .values(status=CouponStatus.REDEEMED, redeemed_at=now, redeemed_outlet_id=outlet.id,
                redeemed_by=principal.staff_id)
        .execution_options(synchronize_session=False))
    if won.rowcount != 1:
        session.refresh(coupon)
        raise _already(coupon)  # someone else redeemed it between our read and our write
    for name, value in (("status", CouponStatus.REDEEMED), ("redeemed_at", now),
                        ("redeemed_outlet_id", outlet.id), ("redeemed_by", principal.staff_id)):
        set_committed_value(coupon, name, value)  # what the UPDATE wrote, without a re-read
    record_event(session, type=EventType.REDEMPTION, customer_hash=coupon.customer_hash,
                 query_id=coupon.query_id, outlet_id=outlet.id, promotion_id=coupon.promotion_id,
                 region_id=outlet.region_id, at=now, channel="store",
                 dedup_key=f"redemption:{coupon.id}", props={"staff_id": principal.staff_id})
    return coupon


def check(session: Session, *, code: str, outlet_id: int | None, principal: Principal,
          now: datetime) -> tuple[Coupon, Outlet, O2OError | None]:
    """What the till sees before honouring a code: the coupon, the outlet asked about (the
    caller's only one when not named), and the refusal redeeming it there would get now
    (None: it would be redeemed). Reads only; the same scope and refusals as `redeem`."""
    outlet = _redeeming_outlet(session, outlet_id, principal)
    canonical = normalize_code(code)
    # populate_existing: the row as stored now, even if the session holds an older copy.
    coupon = None if canonical is None else session.scalars(
        sa.select(Coupon).where(Coupon.code == canonical)
        .execution_options(populate_existing=True)).first()
    if coupon is None:
        raise CouponUnknown("No coupon has this code; check it and try again.")
    return coupon, outlet, _refusal(coupon, outlet, now)


def _refusal(coupon: Coupon, outlet: Outlet, now: datetime) -> O2OError | None:
    if coupon.status == CouponStatus.REDEEMED:
        return _already(coupon)
    if not promotion_applies(coupon.promotion, outlet):
        return CouponWrongOutlet(
            f"This coupon ({coupon.promotion.title}) is not valid at {outlet.name}.",
            details={"promotion_id": coupon.promotion_id})
    if coupon.expires_at <= now:
        return CouponExpired(f"This coupon expired on {coupon.expires_at:%Y-%m-%d %H:%M} UTC.",
                             details={"expired_at": coupon.expires_at.isoformat()})
    return None


def _redeeming_outlet(session: Session, outlet_id: int | None, principal: Principal) -> Outlet:
    if outlet_id is None:
        if len(principal.outlet_ids) != 1:
            raise CouponOutletRequired(
                "Say which outlet is redeeming (outlet_id).",
                details=[{"field": "outlet_id", "message": "required for this account"}])
        outlet_id = next(iter(principal.outlet_ids))
    outlet = session.get(Outlet, outlet_id)
    if outlet is None or outlet.deleted_at is not None or \
            not principal.can_touch_outlet(outlet.id, outlet.region_id):
        raise not_found("outlet", outlet_id)
    return outlet


def _already(coupon: Coupon) -> CouponAlreadyRedeemed:
    when = coupon.redeemed_at
    return CouponAlreadyRedeemed(
        f"Coupon {display_code(coupon.code)} was already redeemed"
        + (f" on {when:%Y-%m-%d %H:%M} UTC." if when else "."),
        details={"redeemed_at": when.isoformat() if when else None,
                 "outlet_id": coupon.redeemed_outlet_id})


def coupons_held(session: Session, *, customer_hash: str, promotion_id: int) -> list[Coupon]:
    """The customer's coupons of one promotion, newest first (for the coupon page)."""
    return list(session.scalars(
        sa.select(Coupon).where(Coupon.customer_hash == customer_hash,
                                Coupon.promotion_id == promotion_id)
        .order_by(Coupon.claim_no.desc())))
