"""What WeChat's subscribe_msg_* pushes mean for reminders, and the coupon a consent is for.

Binding rule (a popup event names the customer and the template, never a coupon):
1. the coupon page records an intent (`record_intent`) when it shows the reminder button
   for a coupon the customer holds and can still use; an accepted popup within
   `INTENT_TTL` of that intent is for that coupon, if it is still usable and has no
   reminder waiting yet;
2. otherwise (no fresh intent, or that coupon is taken) the customer's usable coupon that
   expires first and has no reminder waiting;
3. no such coupon: the consent is recorded as skipped ("no coupon to remind of").
One consent reminds of one coupon; a second accepted popup can cover a second coupon.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from o2o.config import Settings
from o2o.coupons.models import Coupon, CouponStatus
from o2o.links import seal
from o2o.reminders.models import CouponReminder, ReminderIntent, ReminderStatus

log = logging.getLogger("o2o.reminders")

#: How long after the coupon page offered the button its popup is taken to be for that coupon.
INTENT_TTL = timedelta(minutes=30)
#: Key label for sealing the openid a reminder will be sent to.
OPENID_LABEL = b"reminder-openid"
#: Statuses in which a reminder may still be sent ("waiting").
WAITING = (ReminderStatus.PENDING, ReminderStatus.SENDING)


@dataclass(frozen=True, slots=True)
class Choice:
    """One template's line in a subscribe_msg_* push."""

    template_id: str
    status: str  # accept / reject (popup, change); success / failed (sent: ErrorStatus)
    error_code: str | None = None


def choices(raw: Mapping[str, Any], group: str) -> list[Choice]:
    """The `<List>` entries of `<group>` (one entry arrives as a dict, several as a list).
    WeChat's documented example of subscribe_msg_change_event uses the popup's group name,
    so the change event is also read from `SubscribeMsgPopupEvent` when its own is absent."""
    container = raw.get(group)
    if not isinstance(container, Mapping) and group == "SubscribeMsgChangeEvent":
        container = raw.get("SubscribeMsgPopupEvent")
    if not isinstance(container, Mapping):
        return []
    entries = container.get("List")
    entries = entries if isinstance(entries, list) else [entries]
    out = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        template = entry.get("TemplateId")
        status = entry.get("SubscribeStatusString") or entry.get("ErrorStatus")
        if isinstance(template, str) and template.strip() and isinstance(status, str):
            code = entry.get("ErrorCode")
            out.append(Choice(template.strip(), status.strip().lower(),
                              code.strip() if isinstance(code, str) else None))
    return out


def record_intent(session: Session, *, customer_hash: str, coupon_id: int,
                  now: datetime) -> None:
    """The coupon page offered the reminder button for this coupon (latest page wins)."""
    intent = session.get(ReminderIntent, customer_hash)
    if intent is None:
        session.add(ReminderIntent(customer_hash=customer_hash, coupon_id=coupon_id, at=now))
    else:
        intent.coupon_id, intent.at = coupon_id, now
    session.flush()


def bind_coupon(session: Session, *, customer_hash: str, now: datetime) -> Coupon | None:
    """The coupon an accepted popup is for (see the module's binding rule), or None."""
    waiting = sa.select(CouponReminder.coupon_id).where(
        CouponReminder.customer_hash == customer_hash, CouponReminder.status.in_(WAITING),
        CouponReminder.coupon_id.is_not(None))
    usable = sa.select(Coupon).where(
        Coupon.customer_hash == customer_hash, Coupon.status == CouponStatus.CLAIMED,
        Coupon.expires_at > now, Coupon.id.not_in(waiting))
    intent = session.get(ReminderIntent, customer_hash)
    if intent is not None and now - intent.at <= INTENT_TTL:
        coupon = session.scalars(usable.where(Coupon.id == intent.coupon_id)).first()
        if coupon is not None:
            return coupon
    return session.scalars(usable.order_by(Coupon.expires_at, Coupon.id).limit(1)).first()


def accept(session: Session, settings: Settings, *, consent_key: str, customer_hash: str,
           openid: str, template_id: str, now: datetime) -> CouponReminder | None:
    """Record one accepted popup as a reminder due `reminder_lead_h` before its coupon
    expires (at once when that is already past). WeChat's retry of the same push (same
    `consent_key`) records nothing more; returns None then."""
    if session.scalar(sa.select(CouponReminder.id)
                      .where(CouponReminder.consent_key == consent_key)) is not None:
        return None
    coupon = bind_coupon(session, customer_hash=customer_hash, now=now)
    reminder = CouponReminder(consent_key=consent_key, customer_hash=customer_hash,
                              template_id=template_id, consented_at=now, attempts=0)
    if coupon is None:
        reminder.status, reminder.reason = ReminderStatus.SKIPPED, "no coupon to remind of"
        reminder.due_at = reminder.next_attempt_at = reminder.finished_at = now
    else:
        due = max(now, coupon.expires_at - timedelta(hours=settings.reminder_lead_h))
        reminder.coupon_id, reminder.status = coupon.id, ReminderStatus.PENDING
        reminder.due_at = reminder.next_attempt_at = due
        reminder.sealed_openid = seal(openid.encode(), settings.signing_key,
                                      label=OPENID_LABEL,
                                      exp=int(coupon.expires_at.timestamp()) + 86400)
    session.add(reminder)
    session.flush()
    return reminder


def withdraw(session: Session, *, customer_hash: str, template_id: str | None,
             now: datetime, reason: str) -> int:
    """Cancel the customer's waiting reminders (of one template, or all): they withdrew the
    consent in WeChat's settings, or unfollowed. Returns how many were cancelled; one being
    sent right now is cancelled too, and the job then records it as skipped, not sent."""
    where = [CouponReminder.customer_hash == customer_hash,
             CouponReminder.status.in_(WAITING)]
    if template_id is not None:
        where.append(CouponReminder.template_id == template_id)
    result = session.execute(
        sa.update(CouponReminder).where(*where)
        .values(status=ReminderStatus.SKIPPED, reason=reason, finished_at=now,
                sealed_openid=None, claim_token=None)
        .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)


def record_delivery(session: Session, *, customer_hash: str, choice: Choice) -> bool:
    """WeChat's subscribe_msg_sent_event: note on the latest sent reminder of that template
    whether the message reached the customer. False when no sent reminder matches."""
    reminder = session.scalars(
        sa.select(CouponReminder).where(
            CouponReminder.customer_hash == customer_hash,
            CouponReminder.template_id == choice.template_id,
            CouponReminder.status == ReminderStatus.SENT)
        .order_by(CouponReminder.finished_at.desc(), CouponReminder.id.desc()).limit(1)).first()
    if reminder is None:
        log.warning("delivery report for a reminder we did not send (template %s)",
                    choice.template_id)
        return False
    detail = choice.status if choice.error_code in (None, "0") else \
        f"{choice.status} ({choice.error_code})"
    reminder.delivery = detail[:64]
    session.flush()
    return True
