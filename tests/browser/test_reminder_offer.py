"""The coupon page's reminder offer at phone width: inside WeChat (its user agent) the
one-time subscribe open tag and its promise; in another browser a plain sentence."""

from __future__ import annotations

import pytest

from o2o.config import Settings
from o2o.customers.identity import customer_hash
from o2o.customers.links import coupon_page_url
from tests.factories import make_outlet
from tests.factories_loop import make_coupon_promotion

WECHAT_UA = ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Mobile Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F35) NetType/WIFI")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"wechat_subscribe_template_id": "tmpl-coupon-expiry",
                                       "reminder_poll_s": 0.0})


@pytest.mark.parametrize("in_wechat", [True, False], ids=["wechat", "browser"])
def test_reminder_offer_on_the_coupon_page(live, launch_browser, screenshot,  # type: ignore[no-untyped-def]
                                           in_wechat: bool) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with live.sessions.begin() as s:
        shop = make_outlet(s, name="南京东路店")
        promo = make_coupon_promotion(s, outlets=[shop], title="第二杯半价")
    live.catalog.refresh()
    who = customer_hash("o_browser_customer", live.settings.customer_hash_key)
    url = coupon_page_url(live.settings, query_id=None, customer_hash=who,
                          promotion_id=promo.id, outlet_id=shop.id)
    browser = launch_browser(*([f"--user-agent={WECHAT_UA}"] if in_wechat else []))
    browser.get(url)
    assert not browser.find_elements(By.CSS_SELECTOR, "#remind")  # nothing held yet
    browser.find_element(By.XPATH, "//button[normalize-space()='领取优惠券']").click()
    # The claim posts and lands on the page again: wait for it, not for the old one.
    remind = WebDriverWait(browser, 15).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#remind"))[0]
    tags = browser.find_elements(By.CSS_SELECTOR, "wx-open-subscribe[template='tmpl-coupon-expiry']")
    if in_wechat:
        assert len(tags) == 1 and "仅在到期前约 24 小时提醒这一次" in remind.text
    else:
        assert not tags and "在微信中打开本页" in remind.text
    assert browser.execute_script(  # no sideways scrolling
        "return document.documentElement.scrollWidth <= window.innerWidth")
    screenshot("coupon-remind", driver=browser)
