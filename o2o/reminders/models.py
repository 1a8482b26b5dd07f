"""Reminder consents and the coupon page's intent that binds a consent to a coupon."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from o2o.db.schema import Base, UTCDateTime, utcnow


class ReminderStatus(StrEnum):
    PENDING = "pending"  # consented, waiting for its due time (or its next attempt)
    SENDING = "sending"  # claimed by one job instance (claim_token) since claimed_at
    SENT = "sent"
    FAILED = "failed"  # WeChat refused it or the attempts ran out (reason says which)
    SKIPPED = "skipped"  # not sent on purpose: redeemed, expired, unfollowed, withdrawn ...


#: Statuses a reminder never leaves.
FINAL = (ReminderStatus.SENT, ReminderStatus.FAILED, ReminderStatus.SKIPPED)


class CouponReminder(Base):
    """One consent (one accepted popup for one template) = at most one message."""

    __tablename__ = "coupon_reminders"
    __table_args__ = (sa.Index("ix_coupon_reminders_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The push that gave the consent (WeChat retries a push: one consent, not two).
    consent_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    customer_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    template_id: Mapped[str] = mapped_column(sa.String(128))
    #: The coupon it reminds of; None when the customer held none to bind (then skipped).
    coupon_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupons.id"), nullable=True,
                                                  index=True)
    #: The openid, sealed (AES-GCM, key from O2O_SIGNING_KEY), kept only while the reminder
    #: may still be sent: the send needs it; cleared when the row becomes final.
    sealed_openid: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    status: Mapped[ReminderStatus] = mapped_column(
        sa.Enum(ReminderStatus, name="reminder_status", native_enum=False, length=16,
                values_callable=lambda e: [m.value for m in e]),
        default=ReminderStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: WeChat's subscribe_msg_sent_event for it: "success" or the ErrorStatus it reported.
    delivery: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)


class ReminderIntent(Base):
    """The coupon whose page last offered this customer the reminder button: the popup that
    follows is for that coupon (see consent.bind_coupon)."""

    __tablename__ = "reminder_intents"

    customer_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    coupon_id: Mapped[int] = mapped_column(sa.ForeignKey("coupons.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
