"""The coupon page offers the reminder (WeChat's wx-open-subscribe tag, or a plain sentence
outside WeChat) to the customer who claimed it, records the intent, and the popup that
follows is bound to that coupon."""

from __future__ import annotations

import sqlalchemy as sa

from o2o.coupons.models import Coupon
from o2o.customers.links import coupon_page_url
from o2o.reminders.models import ReminderIntent, ReminderStatus
from tests.factories import make_outlet, make_promotion

from .conftest import T0, TEMPLATE, hours, reminders

WECHAT_UA = ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Mobile Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F35) NetType/WIFI")


def test_offered_to_the_claimer_intent_recorded_and_popup_bound(client, services, push,
                                                                 give_coupon, who) -> None:
    with services.sessions.begin() as session:
        outlet = make_outlet(session, code="R1", name="人民广场店")
        promo_id = make_promotion(session, title="美式咖啡立减5元", coupon_enabled=True,
                                  coupon_per_customer=1, coupon_valid_days=10).id
    services.catalog.load()
    sooner = give_coupon(who, T0 + hours(30))  # another offer's coupon, expiring sooner
    url = coupon_page_url(services.settings, query_id=None, customer_hash=who,
                          promotion_id=promo_id, outlet_id=outlet.id)
    assert "wx-open-subscribe" not in client.get(url, headers={"User-Agent": WECHAT_UA}).text
    assert client.post(url, follow_redirects=False).status_code == 303

    page = client.get(url, headers={"User-Agent": WECHAT_UA}).text
    assert f'<wx-open-subscribe template="{TEMPLATE}"' in page and "到期前提醒我" in page
    assert "在微信中打开本页" in client.get(url).text  # outside WeChat: a sentence instead
    with services.sessions() as session:
        claimed = session.scalars(sa.select(Coupon.id).where(Coupon.promotion_id == promo_id)
                                  ).one()
        assert session.get(ReminderIntent, who).coupon_id == claimed

    push("subscribe_msg_popup", TEMPLATE, "accept")
    (row,) = reminders(services)
    assert (row.coupon_id, row.status) == (claimed, ReminderStatus.PENDING)
    assert claimed != sooner  # the page's coupon, not the one expiring first
    page = client.get(url, headers={"User-Agent": WECHAT_UA}).text
    assert "已设置到期提醒" in page and "wx-open-subscribe" not in page


def test_not_offered_on_a_shared_copy(client, services, who) -> None:
    with services.sessions.begin() as session:
        promo_id = make_promotion(session, coupon_enabled=True, coupon_per_customer=1).id
    services.catalog.load()
    url = coupon_page_url(services.settings, query_id=None, customer_hash=who,
                          promotion_id=promo_id)
    client.post(url, follow_redirects=False)
    shared = url + ("&" if "?" in url else "?") + "from=singlemessage&isappinstalled=0"
    page = client.get(shared, headers={"User-Agent": WECHAT_UA}).text
    assert "wx-open-subscribe" not in page and "提醒" not in page
    with services.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ReminderIntent)) == 0
