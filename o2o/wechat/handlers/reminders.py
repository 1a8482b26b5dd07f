"""WeChat's one-time subscribe pushes (coupon reminders): accepted or rejected popups,
consent withdrawn in WeChat's settings, and the delivery report of a sent message.
Each answers `success`; what they mean is in o2o/reminders/consent.py."""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from o2o.reminders import consent
from o2o.wechat.context import HandlerContext
from o2o.wechat.parsing import Message
from o2o.wechat.registry import Registry


def register(registry: Registry[HandlerContext]) -> None:
    registry.register(("event", "subscribe_msg_popup_event"), on_popup)
    registry.register(("event", "subscribe_msg_change_event"), on_change)
    registry.register(("event", "subscribe_msg_sent_event"), on_sent)


def _ours(message: Message, ctx: HandlerContext, group: str) -> list[consent.Choice]:
    """The push's entries for the configured template (others are not ours to record)."""
    template = ctx.settings.wechat_subscribe_template_id
    return [c for c in consent.choices(message.raw, group) if template and
            c.template_id == template]


def on_popup(message: Message, ctx: HandlerContext) -> None:
    accepted = [c for c in _ours(message, ctx, "SubscribeMsgPopupEvent") if c.status == "accept"]
    if not accepted:
        return None  # rejected, or another template: nothing to remember

    def work(session: Session) -> None:
        for choice in accepted:
            # WeChat's retry of this push has the same key: one consent, not two.
            key = hashlib.sha256(f"{ctx.delivery_key(message)}\n{choice.template_id}"
                                 .encode()).hexdigest()
            consent.accept(session, ctx.settings, consent_key=key,
                           customer_hash=ctx.customer_hash, openid=message.from_user,
                           template_id=choice.template_id, now=ctx.now)
    ctx.write(work)
    return None


def on_change(message: Message, ctx: HandlerContext) -> None:
    withdrawn = [c for c in _ours(message, ctx, "SubscribeMsgChangeEvent") if c.status == "reject"]
    if not withdrawn:
        return None

    def work(session: Session) -> None:
        for choice in withdrawn:
            consent.withdraw(session, customer_hash=ctx.customer_hash,
                             template_id=choice.template_id, now=ctx.now,
                             reason="consent withdrawn")
    ctx.write(work)
    return None


def on_sent(message: Message, ctx: HandlerContext) -> None:
    reports = _ours(message, ctx, "SubscribeMsgSentEvent")
    if not reports:
        return None

    def work(session: Session) -> None:
        for choice in reports:
            consent.record_delivery(session, customer_hash=ctx.customer_hash, choice=choice)
    ctx.write(work)
    return None
