"""The till for real: a customer claims a coupon on their phone; the cashier's phone films
the QR that page rendered (Chromium's fake camera playing it as video), the page decodes it
with the vendored zxing-wasm, the cashier confirms; a second scan is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from o2o.analytics.models import Event
from o2o.coupons.models import Coupon
from o2o.geo.datum import Datum, from_wgs84
from o2o.staff.login_links import create_login_link, login_url
from tests.browser.camera import camera_args, still_video
from tests.browser.conftest import share_location
from tests.factories import make_outlet
from tests.factories_loop import make_coupon_promotion
from tests.factories_staff import make_staff

pytestmark = pytest.mark.browser

OPENID = "oTILL_customer_7"
PHONE = (360, 740)


def test_scan_confirm_once_and_a_second_scan_is_refused(  # type: ignore[no-untyped-def]
        live, browser, launch_browser, screenshot, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as arrived
    from selenium.webdriver.support.ui import WebDriverWait

    with live.sessions.begin() as s:
        shop = make_outlet(s, lat=31.2331, lng=121.4752, name="南京东路店",
                           address="南京东路 300 号")
        make_coupon_promotion(s, outlets=[shop], title="第二杯半价", description="任意饮品")
        clerk = make_staff(s, "staff", outlets=[shop], name="店员小李")
        link = create_login_link(s, staff_id=clerk.id)
    live.catalog.refresh()

    # The customer's phone: a real claim, and the QR exactly as their page drew it.
    customer = browser
    customer.set_window_size(*PHONE)
    card = share_location(live.base_url, OPENID, *from_wgs84(31.2304, 121.4737, Datum.GCJ02))
    customer.get(card["url"])
    customer.find_element(By.LINK_TEXT, "南京东路店").click()
    WebDriverWait(customer, 15).until(arrived.url_contains("/h5/outlet/"))
    customer.find_element(By.XPATH, "//button[normalize-space()='领取优惠券']").click()
    WebDriverWait(customer, 15).until(arrived.url_contains("claimed=1"))
    shown = customer.find_element(By.CSS_SELECTOR, ".coupon .code").text
    qr_png = tmp_path / "qr.png"
    customer.find_element(By.CSS_SELECTOR, ".qr svg").screenshot(str(qr_png))
    screenshot("1-customer-coupon", customer)
    video = still_video(qr_png, tmp_path / "qr.y4m")

    # The cashier's phone: its camera films that QR. The page may not use the browser's own
    # BarcodeDetector (headless Chromium on Linux has none anyway): the vendored decoder it is.
    till = launch_browser(*camera_args(video))
    till.set_window_size(*PHONE)
    till.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                         {"source": "delete window.BarcodeDetector;"})
    till.get(login_url(live.base_url, link.token))
    till.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(till, 15).until(lambda d: d.current_url.rstrip("/").endswith("/staff"))
    till.get(f"{live.base_url}/staff/till")
    assert "南京东路店" in till.find_element(By.CSS_SELECTOR, ".till-outlet").text
    assert not till.execute_script("return 'BarcodeDetector' in window")
    screenshot("2-till-ready", till)

    def scan() -> str:
        """Tap 扫码, let the camera find the code; the verdict page it leads to. (Alone it
        takes under a second; the wait is long for a loaded machine compiling the .wasm.)"""
        before = till.current_url
        till.find_element(By.ID, "scan-start").click()
        WebDriverWait(till, 40).until(lambda d: d.current_url != before and
                                      "code=" in d.current_url)
        return till.find_element(By.CSS_SELECTOR, ".verdict").text

    verdict = scan()
    # What the QR carries is exactly the code (no dashes, no URL): the form got it as such.
    assert f"code={shown.replace('-', '')}" in till.current_url
    assert "可以核销" in verdict and "第二杯半价" in verdict and shown in verdict
    screenshot("3-till-valid", till)

    till.find_element(By.XPATH, "//button[normalize-space()='确认核销']").click()
    WebDriverWait(till, 15).until(arrived.url_contains("done="))
    verdict = till.find_element(By.CSS_SELECTOR, ".verdict").text
    assert "核销成功" in verdict
    screenshot("4-till-redeemed", till)
    with live.sessions() as s:
        (coupon,) = s.scalars(sa.select(Coupon)).all()
        redemptions = s.scalar(sa.select(sa.func.count()).select_from(Event)
                               .where(Event.type == "redemption"))
    assert (str(coupon.status), coupon.redeemed_outlet_id, coupon.redeemed_by) == \
        ("redeemed", shop.id, clerk.id)
    assert redemptions == 1
    first = till.find_element(By.XPATH, "//dt[.='核销时间']/following-sibling::dd[1]").text

    # The customer shows the same QR again: refused, with the first redemption's time and place.
    verdict = scan()
    assert "已被使用" in verdict and "核销成功" not in verdict
    assert till.find_element(By.XPATH, "//dt[.='核销时间']/following-sibling::dd[1]").text == first
    assert "南京东路店" in till.find_element(
        By.XPATH, "//dt[.='核销门店']/following-sibling::dd[1]").text
    assert not till.find_elements(By.XPATH, "//button[normalize-space()='确认核销']")
    screenshot("5-till-already-redeemed", till)
    with live.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Event)
                        .where(Event.type == "redemption")) == 1

    # A code typed by hand that is no coupon: refused too (the form works without the camera).
    field = till.find_element(By.ID, "code")
    field.send_keys("ZZZZZ-ZZZZZ")
    field.submit()
    WebDriverWait(till, 15).until(arrived.url_contains("ZZZZZ"))
    assert "券码无效" in till.find_element(By.CSS_SELECTOR, ".verdict").text
    screenshot("6-till-unknown", till)

    customer.refresh()  # and the customer's page now says it was used
    assert "已使用" in customer.find_element(By.CSS_SELECTOR, ".coupon").text


def test_several_outlets_pick_one_then_typed_codes_are_refused(  # type: ignore[no-untyped-def]
        live, browser, screenshot) -> None:
    """Without the camera: the picker, and the refusals a typed code can get."""
    from datetime import UTC, datetime, timedelta

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as arrived
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from o2o.coupons.service import claim
    from tests.factories_loop import a_customer

    now = datetime.now(UTC)
    with live.sessions.begin() as s:
        here = make_outlet(s, name="南京东路店")
        also = make_outlet(s, name="人民广场店", lat=31.3)
        promo = make_coupon_promotion(s, outlets=[here], title="第二杯半价")
        stale = claim(s, promotion_id=promo.id, customer_hash=a_customer(), outlet_id=here.id,
                      query_id=None, now=now - timedelta(days=30)).code
        fresh = claim(s, promotion_id=promo.id, customer_hash=a_customer(), outlet_id=here.id,
                      query_id=None, now=now - timedelta(hours=1)).code
        roamer = make_staff(s, "staff", outlets=[here, also], name="店员小周")
        link = create_login_link(s, staff_id=roamer.id)
        also_id = also.id

    browser.set_window_size(*PHONE)
    browser.get(login_url(live.base_url, link.token))
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(browser, 15).until(lambda d: d.current_url.rstrip("/").endswith("/staff"))
    browser.find_element(By.LINK_TEXT, "核销优惠券").click()
    WebDriverWait(browser, 15).until(arrived.url_contains("/staff/till"))
    assert not browser.find_elements(By.ID, "code")  # no outlet yet: pick one first
    screenshot("1-till-pick-outlet")
    Select(browser.find_element(By.NAME, "outlet_id")).select_by_value(str(also_id))
    browser.find_element(By.XPATH, "//button[normalize-space()='在此门店核销']").click()
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.ID, "code"))
    assert "人民广场店" in browser.find_element(By.CSS_SELECTOR, ".till-outlet").text

    def typed(code: str) -> str:
        field = browser.find_element(By.ID, "code")
        field.send_keys(code)
        field.submit()
        WebDriverWait(browser, 15).until(arrived.url_contains(code.split("-")[0]))
        return browser.find_element(By.CSS_SELECTOR, ".verdict").text

    assert "本店不适用" in typed(fresh)  # the offer runs at 南京东路店 only
    screenshot("2-till-wrong-outlet")
    browser.get(f"{live.base_url}/staff/till?pick=1")  # back at 南京东路店
    Select(browser.find_element(By.NAME, "outlet_id")).select_by_visible_text(
        f"南京东路店（{here.code}）")
    browser.find_element(By.XPATH, "//button[normalize-space()='在此门店核销']").click()
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.ID, "code"))
    assert "已过期" in typed(f"{stale[:5].lower()}-{stale[5:].lower()}")
    screenshot("3-till-expired")
    browser.get(f"{live.base_url}/staff/till")  # remembered: no picking again
    assert "南京东路店" in browser.find_element(By.CSS_SELECTOR, ".till-outlet").text
    assert "可以核销" in typed(fresh)
    screenshot("4-till-valid-typed")
    with live.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Event)
                        .where(Event.type == "redemption")) == 0
