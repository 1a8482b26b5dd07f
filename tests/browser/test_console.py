"""A store clerk's phone, for real: sign in by link, edit hours, close for a while and reopen,
create and publish a promotion and find it in the next signed and encrypted WeChat location
reply. Screenshots of every console page are kept in tests/artifacts/."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
import sqlalchemy as sa

from o2o.catalog.models import Outlet, Promotion
from o2o.geo.datum import Datum, from_wgs84
from o2o.staff.login_links import login_url
from o2o.staff.models import Role
from o2o.wechat.simulator import build_request, decode_reply, location_xml
from tests.conftest import TEST_AES_KEY
from tests.factories import make_outlet, make_region
from tests.factories_console import login_link
from tests.factories_staff import make_staff

pytestmark = pytest.mark.browser

OPENID = "oCONSOLE_openid_7"
APPID = "wxtestappid0001"


@pytest.fixture
def shop(live):  # type: ignore[no-untyped-def]
    with live.sessions.begin() as s:
        east = make_region(s, code="EAST", name="华东")
        mine = make_outlet(s, code="SH-001", name="人民广场店", region=east, lat=31.2310,
                           lng=121.4740, address="人民大道 100 号", phone="021-6000 0001",
                           hours={d: [["07:00", "22:00"]] for d in
                                  ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
        clerk = make_staff(s, Role.STAFF, outlets=[mine], name="王小明")
        ids = {"outlet": mine.id, "clerk": clerk.id}
    live.catalog.refresh()
    return ids


def _go(browser, how: str, what: str) -> None:  # type: ignore[no-untyped-def]
    """Click what navigates, and wait until the next page has replaced this one."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(how, what).click()

    def replaced(_: object) -> bool:
        # Chromium reports a page caught mid-navigation as a stale element or, now and then,
        # as "Node with given id does not belong to the document": both mean it is gone.
        try:
            old.is_enabled()
        except WebDriverException:
            return True
        return False

    WebDriverWait(browser, 15).until(replaced)


def _submit(browser, form_css: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    _go(browser, By.CSS_SELECTOR, f"{form_css} button[type=submit]")


def _button(browser, label: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    _go(browser, By.XPATH, f"//button[normalize-space()='{label}']")


def _sign_in(live, browser, staff_id: int) -> None:  # type: ignore[no-untyped-def]
    browser.get(login_url(live.base_url, login_link(live, staff_id)))
    _button(browser, "确认登录")


def _wechat_location(live) -> tuple[dict[str, str], ...]:  # type: ignore[no-untyped-def]
    """The cards of a signed, encrypted location message from beside the outlet."""
    lat, lng = from_wgs84(31.2304, 121.4737, Datum.GCJ02)
    query, body = build_request(location_xml(lat, lng, from_user=OPENID), token="test-token",
                                aes_key=TEST_AES_KEY, appid=APPID, openid=OPENID)
    query["encrypt_type"] = "aes"
    r = httpx.post(f"{live.base_url}/wechat", params=query, content=body, timeout=10)
    assert r.status_code == 200, r.text
    return decode_reply(r.content, token="test-token", aes_key=TEST_AES_KEY, appid=APPID,
                        encrypted=True).articles


def test_clerk_signs_in_edits_hours_closes_and_publishes(live, browser, screenshot, shop
                                                         ) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    browser.set_window_size(360, 740)
    token = login_link(live, shop["clerk"])
    browser.get(login_url(live.base_url, token))
    assert "王小明" in browser.page_source
    screenshot("01-login-confirm")
    _button(browser, "确认登录")
    assert browser.current_url.endswith("/staff/")
    # Big tap targets at phone width, and the console's own stylesheet really applied.
    tile = browser.find_element(By.CSS_SELECTOR, ".tile")
    assert tile.size["height"] >= 48 and tile.size["width"] <= 360
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 360
    screenshot("02-home")

    _go(browser, By.LINK_TEXT, "我的门店")
    assert "人民广场店" in browser.page_source
    screenshot("03-outlets")
    _go(browser, By.CSS_SELECTOR, "a.item")
    assert "/staff/outlets/" in browser.current_url
    screenshot("04-outlet")

    # Edit the weekly hours in the compact syntax.
    hours = browser.find_element(By.ID, "hours")
    hours.clear()
    hours.send_keys("Mo-Fr 08:00-21:00; Sa,Su 09:00-22:00")
    _submit(browser, "#details form")
    assert "已保存" in browser.page_source
    with live.sessions() as s:
        row = s.get(Outlet, shop["outlet"])
        assert row.hours["sat"] == [["09:00", "22:00"]] and row.version == 2

    # Close temporarily until a date; customers stop being offered the outlet at once.
    browser.find_element(By.CSS_SELECTOR, "input[name=status][value=temporarily_closed]").click()
    reopen = (date.today() + timedelta(days=5)).isoformat()
    browser.execute_script("arguments[0].value = arguments[1]",
                           browser.find_element(By.ID, "reopen_on"), reopen)
    _submit(browser, "#status form")
    assert "暂停营业" in browser.find_element(By.CSS_SELECTOR, "main .state").text
    screenshot("05-outlet-closed")
    near = httpx.get(f"{live.base_url}/api/v1/nearby", params={
        "lat": 31.2304, "lng": 121.4737, "crs": "wgs84"}).json()["results"]
    assert "SH-001" not in [o["code"] for o in near]
    browser.find_element(By.CSS_SELECTOR, "input[name=status][value=open]").click()
    _submit(browser, "#status form")
    assert "营业中" in browser.find_element(By.CSS_SELECTOR, "main .state").text

    # A promotion: the byte counter counts as WeChat does while typing (3 bytes per 汉字).
    _go(browser, By.LINK_TEXT, "优惠活动")
    screenshot("06-promotions-empty")
    _go(browser, By.PARTIAL_LINK_TEXT, "新建优惠")
    browser.find_element(By.ID, "code").send_keys("LATTE-2ND")
    browser.find_element(By.ID, "title").send_keys("第二杯半价")
    counter = browser.find_element(By.CSS_SELECTOR, '[data-count-for="title"]')
    assert counter.text.startswith("15 / 128")
    description = "拿铁 latte，今天下单第二杯半价"
    browser.find_element(By.ID, "description").send_keys(description)
    assert browser.find_element(By.CSS_SELECTOR, '[data-count-for="description"]').text \
        .startswith(f"{len(description.encode())} / 512")  # 42: 1 per Latin letter, 3 per 汉字
    assert browser.find_element(By.CSS_SELECTOR, "input[name=outlets]").is_selected()
    screenshot("07-promotion-new")
    _submit(browser, "form#edit")
    assert "已保存" in browser.page_source and "微信里顾客看到的卡片" in browser.page_source
    screenshot("08-promotion-draft-preview")
    _button(browser, "发布")
    assert "已发布" in browser.find_element(By.CSS_SELECTOR, "main .state").text
    assert "附近的顾客现在发送位置" in browser.page_source
    screenshot("09-promotion-published")
    previewed = browser.find_element(By.CSS_SELECTOR, ".article .d").text

    # The next location a customer shares in chat carries it, as previewed (the preview's
    # distance is a stand-in: the title says 300 m where the customer is 73 m away).
    (card,) = _wechat_location(live)
    assert "第二杯半价" in card["title"] + card["description"]
    assert card["description"] == previewed and "人民广场店" in card["title"]
    with live.sessions() as s:
        assert s.scalar(sa.select(Promotion.status).where(
            Promotion.code == "LATTE-2ND")) == "published"

    _go(browser, By.LINK_TEXT, "优惠活动")
    screenshot("10-promotions")
    _go(browser, By.LINK_TEXT, "今日数据")
    assert "上周同日" in browser.page_source
    screenshot("11-today")

    # Someone else changes the phone while this form is open: both versions, nothing lost.
    browser.get(f"{live.base_url}/staff/outlets/{shop['outlet']}")
    with live.sessions.begin() as s:
        s.get(Outlet, shop["outlet"]).phone = "021-9999 9999"
    phone = browser.find_element(By.ID, "phone")
    phone.clear()
    phone.send_keys("021-6000 0002")
    _submit(browser, "#details form")
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "021-9999 9999" in text and "021-6000 0002" in text
    screenshot("12-changed-meanwhile")

    _button(browser, "退出登录")
    assert "您已退出登录" in browser.page_source
    screenshot("13-signed-out")
    browser.get(login_url(live.base_url, token))  # the link was used up at sign-in
    assert "登录链接已使用" in browser.page_source
    screenshot("14-link-used")


def test_console_at_desktop_width(live, browser, shop) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    from tests.browser.conftest import ARTIFACTS

    browser.set_window_size(1280, 800)
    _sign_in(live, browser, shop["clerk"])
    browser.get(f"{live.base_url}/staff/outlets/{shop['outlet']}")
    main = browser.find_element(By.TAG_NAME, "main")
    assert main.size["width"] <= 720  # a readable column, not a 1280 px wide form
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "test_console_at_desktop_width-outlet.png"))
