"""Whether the coupon page offers "remind me before it expires", and for which coupon.

Offered only to the customer who claimed the coupon, in the browser that claimed it (the
code is shown there), for their usable coupon of this offer that expires first, and only
when a subscribe template is configured. Offering records the intent that binds the
popup's consent to that coupon (o2o/reminders/consent.py).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from o2o.config import Settings
from o2o.coupons.models import Coupon, CouponStatus
from o2o.reminders.consent import WAITING, record_intent
from o2o.reminders.models import CouponReminder


@dataclass(frozen=True, slots=True)
class ReminderOffer:
    template_id: str
    lead_h: int
    #: A reminder for this coupon is already waiting: say so instead of offering it again.
    already: bool


def reminder_offer(sessions: sessionmaker[Session], settings: Settings, *,
                   customer_hash: str | None, promotion_id: int,
                   revealed: Collection[int], now: datetime) -> ReminderOffer | None:
    """The offer for this page (recording the intent), or None when there is none."""
    template = settings.wechat_subscribe_template_id
    if not template or customer_hash is None or not revealed:
        return None
    with sessions.begin() as session:
        coupon = session.scalars(
            sa.select(Coupon).where(
                Coupon.customer_hash == customer_hash, Coupon.promotion_id == promotion_id,
                Coupon.id.in_(list(revealed)), Coupon.status == CouponStatus.CLAIMED,
                Coupon.expires_at > now)
            .order_by(Coupon.expires_at, Coupon.id).limit(1)).first()
        if coupon is None:
            return None
        already = session.scalar(sa.select(CouponReminder.id).where(
            CouponReminder.coupon_id == coupon.id, CouponReminder.status.in_(WAITING)))
        if already is None:
            record_intent(session, customer_hash=customer_hash, coupon_id=coupon.id, now=now)
        return ReminderOffer(template_id=template, lead_h=round(settings.reminder_lead_h),
                             already=already is not None)
