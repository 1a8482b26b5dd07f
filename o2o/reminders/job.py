"""The reminder job: send each due reminder once, through the one WeChat API client.

Exactly once across workers and hosts: a reminder is claimed by a conditional UPDATE
(`status = pending AND next_attempt_at <= now`, or a `sending` claim older than
`LEASE` whose worker died) that sets a fresh claim token; only the instance whose UPDATE
changed the row sends, and it finishes the row only while it still holds the claim.
Before sending it checks again: coupon redeemed or expired, customer unfollowed, consent
withdrawn (the row is no longer ours) mean no message. A send that failed for a passing
reason (WeChat busy or unreachable, no token to be had, a quota) is tried again
`reminder_retry_s` later, doubling, at most `reminder_attempts` times in all; a refusal (43101: no consent left, 40003 ...) is final.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from o2o.config import Settings
from o2o.coupons.models import Coupon, CouponStatus
from o2o.coupons.page import DEFAULT_TZ
from o2o.customers.models import Customer
from o2o.db.schema import utcnow
from o2o.errors import ServiceUnavailable
from o2o.links import LinkExpired, LinkInvalid, unseal
from o2o.reminders.consent import OPENID_LABEL
from o2o.reminders.models import CouponReminder, ReminderStatus
from o2o.wechat.platform.errors import PlatformError

log = logging.getLogger("o2o.reminders")

#: A `sending` claim older than this belongs to a worker that died mid-send: reclaimable.
#: (WeChat spends the consent on delivery, so a resend after such a crash is refused, 43101.)
LEASE = timedelta(minutes=10)
BATCH = 50
TITLE = "优惠券即将到期"  # WeChat: title at most 15 characters
SCENE = "1"  # 一次性订阅 scene; WeChat's PopupScene 1 = popup shown on an H5 page


class Sender(Protocol):
    def send_subscribe(self, *, openid: str, template_id: str, scene: str, title: str,
                       content: str, url: str | None = None) -> None: ...


@dataclass
class RunResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "failed": self.failed, "skipped": self.skipped,
                "retrying": self.retrying}


def run_due(sessions: sessionmaker[Session], settings: Settings, sender: Sender, *,
            now: datetime | None = None, limit: int = BATCH) -> RunResult:
    """Send every reminder due at `now` (default: the clock) that this call manages to claim."""
    now = now or utcnow()
    result = RunResult()
    for reminder_id in _due_ids(sessions, now, limit):
        token = _claim(sessions, reminder_id, now)
        if token is not None:
            outcome = _attempt(sessions, settings, sender, reminder_id, token, now)
            setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def _due_ids(sessions: sessionmaker[Session], now: datetime, limit: int) -> list[int]:
    with sessions() as session:
        return list(session.scalars(
            sa.select(CouponReminder.id).where(_claimable(now))
            .order_by(CouponReminder.next_attempt_at, CouponReminder.id).limit(limit)))


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    pending = sa.and_(CouponReminder.status == ReminderStatus.PENDING,
                      CouponReminder.next_attempt_at <= now)
    abandoned = sa.and_(CouponReminder.status == ReminderStatus.SENDING,
                        CouponReminder.claimed_at < now - LEASE)
    return sa.or_(pending, abandoned)


def _claim(sessions: sessionmaker[Session], reminder_id: int, now: datetime) -> str | None:
    """Take the reminder for this instance: a conditional UPDATE only one instance wins."""
    token = secrets.token_hex(16)
    with sessions.begin() as session:
        changed = session.execute(
            sa.update(CouponReminder)
            .where(CouponReminder.id == reminder_id, _claimable(now))
            .values(status=ReminderStatus.SENDING, claim_token=token, claimed_at=now,
                    attempts=CouponReminder.attempts + 1)
            .execution_options(synchronize_session=False)).rowcount
    return token if changed == 1 else None


def _finish(sessions: sessionmaker[Session], reminder_id: int, token: str, now: datetime,
            **values: Any) -> bool:
    """Write the outcome while the claim is still ours (a withdrawal may have taken it)."""
    final = values.get("status") != ReminderStatus.PENDING
    if final:
        values.update(finished_at=now, sealed_openid=None)
    with sessions.begin() as session:
        changed = session.execute(
            sa.update(CouponReminder)
            .where(CouponReminder.id == reminder_id, CouponReminder.claim_token == token,
                   CouponReminder.status == ReminderStatus.SENDING)
            .values(claim_token=None, **values)
            .execution_options(synchronize_session=False)).rowcount
    return changed == 1


def _attempt(sessions: sessionmaker[Session], settings: Settings, sender: Sender,
             reminder_id: int, token: str, now: datetime) -> str:
    """One claimed reminder: check, send, record. Returns the RunResult field to count."""
    with sessions() as session:
        reminder = session.get(CouponReminder, reminder_id)
        assert reminder is not None
        why_not, openid, content = _check(session, settings, reminder, now)
        attempts, template_id = reminder.attempts, reminder.template_id
    if why_not is not None:
        _finish(sessions, reminder_id, token, now, status=ReminderStatus.SKIPPED, reason=why_not)
        return "skipped"
    try:
        sender.send_subscribe(openid=openid, template_id=template_id, scene=SCENE,
                              title=TITLE, content=content)
    except PlatformError as exc:
        if isinstance(exc, ServiceUnavailable) and attempts < settings.reminder_attempts:
            delay = timedelta(seconds=settings.reminder_retry_s * 2 ** (attempts - 1))
            _finish(sessions, reminder_id, token, now, status=ReminderStatus.PENDING,
                    reason=exc.message[:255], next_attempt_at=now + delay)
            return "retrying"
        _finish(sessions, reminder_id, token, now, status=ReminderStatus.FAILED,
                reason=exc.message[:255])
        return "failed"
    if not _finish(sessions, reminder_id, token, now, status=ReminderStatus.SENT, reason=None):
        log.warning("reminder %d was sent while its consent was being withdrawn", reminder_id)
    return "sent"


def _check(session: Session, settings: Settings, reminder: CouponReminder,
           now: datetime) -> tuple[str | None, str, str]:
    """(why not to send or None, the openid, the message text)."""
    coupon = session.get(Coupon, reminder.coupon_id) if reminder.coupon_id else None
    if coupon is None:
        return "no coupon to remind of", "", ""
    if coupon.status == CouponStatus.REDEEMED:
        return "coupon redeemed", "", ""
    if coupon.expires_at <= now:
        return "coupon expired", "", ""
    followed = session.scalar(sa.select(Customer.subscribed)
                              .where(Customer.customer_hash == reminder.customer_hash))
    if followed is False:
        return "customer unfollowed the account", "", ""
    if reminder.template_id != settings.wechat_subscribe_template_id:
        return "template no longer configured", "", ""
    try:
        _, raw = unseal(reminder.sealed_openid or "", settings.signing_key, label=OPENID_LABEL,
                        now=now.timestamp())
    except (LinkInvalid, LinkExpired):
        return "recipient unreadable (signing key changed)", "", ""
    local = coupon.expires_at.astimezone(ZoneInfo(DEFAULT_TZ))
    content = (f"您领取的「{coupon.promotion.title}」优惠券将于{local:%m月%d日 %H:%M}到期，"
               f"请尽快到店出示券码使用。")[:200]
    return None, raw.decode(), content


class ReminderThread:
    """Runs `run_due` every `reminder_poll_s` in the background; `close` stops it."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings,
                 sender: Sender) -> None:
        self._sessions, self._settings, self._sender = sessions, settings, sender
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="o2o-reminders", daemon=True)

    def start(self) -> ReminderThread:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self._settings.reminder_poll_s):
            try:
                run_due(self._sessions, self._settings, self._sender)
            except Exception:  # the job must outlive a database hiccup; logged, next round
                log.exception("reminder job round failed")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
