"""Following, unfollowing and the periodic LOCATION report (with the customer's consent)."""

from __future__ import annotations

from o2o.analytics.events import record_event
from o2o.customers.service import forget_customer_location, remember_location, touch_customer
from o2o.customers.visits import detect_visits
from o2o.geo.datum import Datum, to_wgs84
from o2o.reminders.consent import withdraw
from o2o.wechat.context import HandlerContext
from o2o.wechat.parsing import Message
from o2o.wechat.registry import Registry
from o2o.wechat.replies import Reply, TextReply


def register(registry: Registry[HandlerContext]) -> None:
    registry.register(("event", "subscribe"), on_subscribe)
    registry.register(("event", "unsubscribe"), on_unsubscribe)
    registry.register(("event", "location"), on_location_report)


def welcome(brand: str) -> str:
    return (f"欢迎关注{brand}！\n想找离您最近的门店？点输入框旁的「+」→「位置」发送位置，"
            "或点菜单「附近门店」，马上告诉您最近的门店、距离和今日优惠。\n"
            "也可以直接发送城市、区名或门店名查询。")


def on_subscribe(message: Message, ctx: HandlerContext) -> Reply:
    ctx.write(lambda s: _follow(s, ctx, message, subscribed=True))
    return TextReply(welcome(ctx.settings.brand_name))


def on_unsubscribe(message: Message, ctx: HandlerContext) -> None:
    """Unfollowing forgets the stored position and cancels waiting coupon reminders at once
    (WeChat allows no reply here)."""
    def work(session) -> None:  # type: ignore[no-untyped-def]
        _follow(session, ctx, message, subscribed=False)
        forget_customer_location(session, customer_hash=ctx.customer_hash)
        withdraw(session, customer_hash=ctx.customer_hash, template_id=None, now=ctx.now,
                 reason="customer unfollowed the account")
    ctx.write(work)


def _follow(session, ctx: HandlerContext, message: Message, *, subscribed: bool) -> None:  # type: ignore[no-untyped-def]
    touch_customer(session, customer_hash=ctx.customer_hash, now=ctx.now, subscribed=subscribed)
    record_event(session, type="subscribe" if subscribed else "unsubscribe",
                 customer_hash=ctx.customer_hash, at=ctx.now,
                 dedup_key=ctx.delivery_key(message))


def on_location_report(message: Message, ctx: HandlerContext) -> None:
    """Keep the coarse last position for "附近门店"; the exact one is used in memory only,
    to see whether the customer is inside an outlet they were shown (a visit)."""
    if not message.has_location:
        return None
    lat, lng = to_wgs84(message.latitude, message.longitude, Datum.GCJ02)

    def work(session) -> None:  # type: ignore[no-untyped-def]
        remember_location(session, customer_hash=ctx.customer_hash, lat=lat, lng=lng,
                          now=ctx.now, ttl_s=ctx.settings.location_ttl_s)
        detect_visits(session, catalog=ctx.catalog, customer_hash=ctx.customer_hash, lat=lat,
                      lng=lng, now=ctx.now, window_s=ctx.settings.visit_window_s)
    ctx.write(work)
    return None
