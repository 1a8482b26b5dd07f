"""A manager's laptop and phone, for real: log in to /dashboard with a token, load every chart
from the known history, and keep screenshots in tests/artifacts/."""

from __future__ import annotations

import pytest

from o2o.staff.models import Role
from tests.browser.conftest import ARTIFACTS
from tests.factories_events import FAR, event, known_history, utc
from tests.factories_staff import make_token

pytestmark = pytest.mark.browser

SECTIONS = ("funnel", "daily", "heat", "outlets", "promotions", "demand")


@pytest.fixture
def manager(live):  # type: ignore[no-untyped-def]
    """The known history plus two more queries at FAR (so it makes the "open next" list)."""
    with live.sessions() as s:
        h = known_history(s)
        for at in ("03-06 02:00", "03-07 02:00"):
            event(s, "query", utc(at), customer="c4", region=h.r1, lat=FAR[0], lng=FAR[1])
        token = make_token(s, Role.MANAGER, regions=[h.r1], name="华东经理")
        s.commit()
    live.catalog.refresh()
    return token


def wait_ready(browser) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from selenium.webdriver.support.ui import WebDriverWait

    def states(driver) -> dict[str, str] | bool:  # type: ignore[no-untyped-def]
        got = {s: driver.find_element("id", s).get_attribute("data-state") for s in SECTIONS}
        return got if all(v in ("ready", "error") for v in got.values()) else False

    return WebDriverWait(browser, 20).until(states)


def js(browser, script: str):  # type: ignore[no-untyped-def]
    return browser.execute_script("return " + script)


def fit_window(browser, width: int) -> None:  # type: ignore[no-untyped-def]
    """Make the window as tall as the page at `width`, and wait until it has been painted."""
    browser.set_window_size(width, 900)
    height = js(browser, "document.documentElement.scrollHeight")
    browser.set_window_size(width, max(640, min(int(height) + 120, 4000)))
    browser.execute_async_script(
        "const done = arguments[0];"
        "requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 50)));")


def test_manager_sees_every_chart_of_their_region(live, browser, screenshot, manager,  # type: ignore[no-untyped-def]
                                                  request) -> None:
    browser.get(f"{live.base_url}/dashboard")
    assert browser.find_element("id", "login").is_displayed()
    browser.find_element("id", "token").send_keys(manager)
    browser.find_element("css selector", "#login-form button").click()
    wait_ready(browser)
    assert "华东经理" in browser.find_element("id", "who").text
    # The known week, in the outlets' local days.
    browser.execute_script("document.getElementById('from').value = '2025-03-03';"
                           "document.getElementById('to').value = '2025-03-09';")
    browser.find_element("css selector", "#filters button[type=submit]").click()
    assert wait_ready(browser) == dict.fromkeys(SECTIONS, "ready")

    assert js(browser, "document.querySelectorAll('#funnel rect.bar').length") == 6
    funnel_text = browser.find_element("id", "funnel").text
    assert "5 次 / 3 人" in funnel_text  # queries: 3 + 2 at FAR; c1, c2, c4
    assert "3 次 / 2 人" in funnel_text  # visits
    assert js(browser, "document.querySelectorAll('#daily polyline.series').length") == 3
    assert js(browser, "document.querySelectorAll('#heat td').length") == 7 * 24
    assert js(browser, "document.querySelector('#heat tr:nth-child(2) td:nth-child(11)')"
                       ".dataset.value") == "1"  # Monday 09:00, one query
    outlets = browser.find_element("id", "outlets").text
    assert "人民广场店 (A1)" in outlets and "西部店 (B1)" in outlets
    assert "买一送一" in browser.find_element("id", "promotions").text
    assert js(browser, "document.querySelectorAll('#demand polygon.cell').length") == 2
    assert js(browser, "document.querySelectorAll('#demand polygon.next').length") == 1
    next_list = browser.find_element("id", "next-list").text
    assert "31.052, 121.949" in next_list and "人民广场店 (A1)" in next_list
    page = browser.find_element("tag name", "body").text
    assert "天河店" not in page and "华南" not in page  # another region's names never arrive
    # Nothing was fetched from anywhere but this server.
    assert js(browser, "performance.getEntriesByType('resource')"
                       ".every(e => e.name.startsWith(location.origin))")
    fit_window(browser, 360)
    # Nothing sticks out sideways on a phone: wide tables scroll inside their card.
    assert js(browser, "document.documentElement.scrollWidth <= "
                       "document.documentElement.clientWidth")
    phone = screenshot("phone")
    fit_window(browser, 1280)
    laptop = ARTIFACTS / f"{request.node.name.replace('[', '-').rstrip(']')}-laptop.png"
    assert browser.save_screenshot(str(laptop))
    assert phone.stat().st_size > 10_000 and laptop.stat().st_size > 10_000


def test_a_wrong_token_stays_on_the_login_form(live, browser, manager) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{live.base_url}/dashboard")
    browser.find_element("id", "token").send_keys("o2o_not-a-real-token")
    browser.find_element("css selector", "#login-form button").click()
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element("id", "login-error").text.strip() != "")
    assert "令牌无效" in browser.find_element("id", "login-error").text
    assert not browser.find_element("id", "app").is_displayed()
    assert js(browser, "sessionStorage.getItem('o2o.dashboard.token')") is None
