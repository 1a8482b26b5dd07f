"""An admin's phone, then a new manager's, for real: create a region by form, create a manager
for it, show the one-time login link as a QR code, and the manager signs in with that link
and finds the region. Screenshots of the accounts and regions pages in tests/artifacts/."""

from __future__ import annotations

import re

import pytest
from selenium.webdriver.common.by import By

from o2o.staff.models import Role
from tests.browser.test_console import _button, _go, _sign_in, _submit
from tests.factories import make_outlet
from tests.factories_staff import make_staff

pytestmark = pytest.mark.browser


@pytest.fixture
def boss(live):  # type: ignore[no-untyped-def]
    with live.sessions.begin() as s:
        make_outlet(s, code="SH-001", name="人民广场店", lat=31.2310, lng=121.4740)
        boss_id = make_staff(s, Role.ADMIN, name="老板").id
    live.catalog.refresh()
    return boss_id


def test_admin_sets_up_a_region_and_its_manager_signs_in_by_qr(live, browser, screenshot,
                                                               boss) -> None:
    browser.set_window_size(360, 740)
    _sign_in(live, browser, boss)
    _go(browser, By.LINK_TEXT, "区域")
    browser.find_element(By.ID, "code").send_keys("EC")
    browser.find_element(By.ID, "name").send_keys("华东")
    browser.find_element(By.ID, "boundary").send_keys(
        "POLYGON((119 29, 123 29, 123 33, 119 33, 119 29))")
    _submit(browser, "#create form")
    assert "已保存" in browser.page_source
    _button(browser, "把边界内的门店划入")
    assert "已把边界内的 1 家门店划入该区域" in browser.page_source
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 360
    screenshot("01-regions")

    _go(browser, By.LINK_TEXT, "账号")
    browser.find_element(By.ID, "name").send_keys("华东经理")
    browser.find_element(By.CSS_SELECTOR, "input[name=role][value=manager]").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=regions][value=EC]").click()
    screenshot("02-accounts")
    _submit(browser, "#create form")
    assert "账号已建好" in browser.page_source and "华东" in browser.page_source
    _button(browser, "生成一次性登录链接")
    qr = browser.find_element(By.CSS_SELECTOR, "img.qr")
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert qr.size["width"] >= 200 and qr.size["width"] <= 340  # big enough to scan
    assert browser.execute_script("return arguments[0].naturalWidth > 0", qr)  # CSP let it in
    url = browser.find_element(By.ID, "url").get_attribute("value")
    assert re.match(rf"^{re.escape(live.base_url)}/staff/login\?t=o2l_", url)
    screenshot("03-login-link")

    browser.delete_all_cookies()  # the manager's own phone
    browser.get(url)
    assert "华东经理" in browser.page_source
    _button(browser, "确认登录")
    _go(browser, By.LINK_TEXT, "区域")
    assert browser.find_element(By.ID, "region-EC").is_displayed()
    assert "1 家门店" in browser.find_element(By.ID, "region-EC").text
    assert "新建区域" not in browser.page_source
    screenshot("04-manager-regions")
