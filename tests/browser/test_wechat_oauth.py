"""A forwarded page opened in WeChat's browser, for real: Chromium with WeChat's user agent
goes through the stand-in's authorize redirect and back, and the page then claims for the
customer WeChat named; screenshots in tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from o2o.config import Settings
from o2o.coupons.models import Coupon
from o2o.customers.identity import customer_hash
from o2o.customers.links import nearby_page_url
from o2o.wechat.platform.standin import StandIn
from o2o.wechat.platform.standin_http import running
from o2o.wechat.simulator import OPENID
from tests.customers.test_oauth import SHARED, WECHAT_UA
from tests.factories import make_outlet
from tests.factories_loop import a_customer, make_coupon_promotion
from tests.wechat.platform.conftest import SECRET

pytestmark = pytest.mark.browser


@pytest.fixture
def standin() -> StandIn:
    return StandIn(appid="wxtestappid0001", secret=SECRET)


@pytest.fixture
def settings(settings: Settings, standin: StandIn) -> Iterator[Settings]:
    """WeChat's API and its authorize page both played by the stand-in."""
    with running(standin) as url:
        yield settings.model_copy(update={"wechat_api_base": url, "wechat_secret": SECRET,
                                          "wechat_oauth_base": url})


@pytest.fixture
def browser(launch_browser) -> Any:  # type: ignore[no-untyped-def]
    return launch_browser(f"--user-agent={WECHAT_UA}")


def test_a_forwarded_page_in_wechat_claims_for_whoever_opened_it(  # type: ignore[no-untyped-def]
        live, browser, screenshot, standin: StandIn) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as arrived
    from selenium.webdriver.support.ui import WebDriverWait

    with live.sessions.begin() as s:
        shop = make_outlet(s, lat=31.2331, lng=121.4752, name="南京东路店")
        make_coupon_promotion(s, outlets=[shop], title="第二杯半价", description="任意饮品")
    live.catalog.refresh()
    sender = a_customer()
    page = nearby_page_url(live.settings, query_id=None, customer_hash=sender,
                           lat=31.2304, lng=121.4737) + SHARED

    browser.get(page)  # to WeChat's authorize page and back, silently
    WebDriverWait(browser, 15).until(arrived.url_contains("/h5/nearby/"))
    assert "/h5/oauth" not in browser.current_url
    assert [c.api for c in standin.calls] == ["oauth2/access_token"]
    screenshot("1-forwarded-nearby")

    browser.find_element(By.XPATH, "//button[normalize-space()='领取优惠券']").click()
    WebDriverWait(browser, 15).until(arrived.url_contains("claimed=1"))
    code = browser.find_element(By.CSS_SELECTOR, ".coupon .code").text
    screenshot("2-own-coupon")
    with live.sessions() as s:
        (holder, stored), = s.execute(sa.select(Coupon.customer_hash, Coupon.code)).all()
    assert holder == customer_hash(OPENID, live.settings.customer_hash_key) != sender
    assert code.replace("-", "") == stored
    assert browser.execute_script("return document.cookie") == ""  # all HttpOnly
