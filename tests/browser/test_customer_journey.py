"""A customer's phone, for real: open the nearby page from a reply link, follow an outlet,
claim a coupon, see its code again later, and not on a forwarded copy or another phone;
screenshots of each step are kept in tests/artifacts/."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from o2o.analytics.models import Event
from o2o.geo.datum import Datum, from_wgs84
from tests.browser.conftest import share_location
from tests.factories import make_outlet
from tests.factories_loop import make_coupon_promotion

pytestmark = pytest.mark.browser

OPENID = "oBROWSER_openid_42"


def test_reply_link_to_claimed_coupon(live, browser, screenshot) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as arrived
    from selenium.webdriver.support.ui import WebDriverWait

    def wait_for(fragment: str) -> None:
        WebDriverWait(browser, 15).until(arrived.url_contains(fragment))

    with live.sessions.begin() as s:
        shop = make_outlet(s, lat=31.2331, lng=121.4752, name="南京东路店",
                           address="南京东路 300 号", phone="021-6322 0000")
        make_outlet(s, lat=31.2260, lng=121.4800, name="新天地店", address="马当路 245 号")
        make_coupon_promotion(s, outlets=[shop], title="第二杯半价", description="任意饮品")
    live.catalog.refresh()

    # The customer shares a location in chat; WeChat shows the reply's one card.
    card = share_location(live.base_url, OPENID, *from_wgs84(31.2304, 121.4737, Datum.GCJ02))
    assert card["url"].startswith(f"{live.base_url}/r/")

    browser.get(card["url"])
    assert "/h5/nearby/" in browser.current_url
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".card .name")]
    assert names[:2] == ["南京东路店", "新天地店"]
    assert "营业中" in browser.find_element(By.TAG_NAME, "main").text
    # Same-origin only, and the stylesheet really applied (a phone-width layout).
    assert browser.execute_script(
        "return [...document.querySelectorAll('[href],[src],[action]')]"
        ".every(e => (e.href || e.src || e.action).startsWith(location.origin))")
    assert browser.execute_script(
        "return getComputedStyle(document.querySelector('.bar')).position") == "sticky"
    screenshot("1-nearby")

    browser.find_element(By.LINK_TEXT, "南京东路店").click()
    wait_for("/h5/outlet/")
    assert "第二杯半价" in browser.page_source
    screenshot("2-outlet")

    browser.find_element(By.XPATH, "//button[normalize-space()='领取优惠券']").click()
    wait_for("claimed=1")
    assert "/h5/coupon/" in browser.current_url
    coupon_page = browser.current_url.split("?")[0]
    code = browser.find_element(By.CSS_SELECTOR, ".coupon .code").text
    assert len(code) == 11 and code[5] == "-"
    qr = browser.find_element(By.CSS_SELECTOR, ".qr svg")
    assert qr.size["width"] >= 150 and qr.size["height"] >= 150
    screenshot("3-coupon")

    browser.back()  # a reload of the form or going back does not claim twice
    browser.refresh()
    browser.get(coupon_page)  # coming back later, in the browser that claimed it
    assert browser.find_element(By.CSS_SELECTOR, ".coupon .code").text == code
    assert browser.execute_script("return document.cookie") == ""  # HttpOnly

    # The same page forwarded in WeChat, or opened on another phone: status, never the code.
    browser.get(coupon_page + "?from=singlemessage&isappinstalled=0")
    assert not browser.find_elements(By.CSS_SELECTOR, ".coupon .code, .qr svg")
    assert "可使用" in browser.find_element(By.TAG_NAME, "main").text
    assert "从分享打开" in browser.find_element(By.TAG_NAME, "main").text
    screenshot("4-coupon-forwarded")
    browser.delete_all_cookies()
    browser.get(coupon_page)
    assert not browser.find_elements(By.CSS_SELECTOR, ".coupon .code, .qr svg")
    assert "只在领取它的手机微信中显示" in browser.find_element(By.TAG_NAME, "main").text
    screenshot("5-coupon-other-phone")
    with live.sessions() as s:
        steps = [(e.type.value, e.outlet_id) for e in s.scalars(
            sa.select(Event).where(Event.type.in_(["click", "claim"])).order_by(Event.id))]
    assert steps == [("click", shop.id), ("click", shop.id), ("claim", shop.id)]
