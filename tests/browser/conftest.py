"""A real server on a free local port and headless Chromium driven through chromedriver.

Without Debian's chromium and chromium-driver the browser tests skip loudly (fail under
O2O_REQUIRE_SERVICES=1). Screenshots go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from o2o.config import Settings
from tests.conftest import unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live(settings: Settings) -> Iterator:  # type: ignore[type-arg]
    """The app served by uvicorn on 127.0.0.1 (test database), its links pointing at itself."""
    import uvicorn

    from api.app import create_app
    from o2o.services import build_services

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    services = build_services(settings.model_copy(update={"public_base_url": base}),
                              migrate=False, load_demo=False, sync=False)
    server = uvicorn.Server(uvicorn.Config(create_app(services.settings, services=services),
                                           host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server did not start on {base}")
        time.sleep(0.02)
    services.base_url = base  # type: ignore[attr-defined]
    yield services
    server.should_exit = True
    thread.join(timeout=10)
    services.close()


@pytest.fixture
def launch_browser(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """launch(*extra_args): a headless Chromium at a phone's width (360 px), no network of its
    own, with its own profile; `extra_args` add to the flags (a fake camera, say). Every
    browser launched is closed after the test."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        unavailable(f"headless Chromium needs {CHROMIUM} and {CHROMEDRIVER} "
                    "(apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers: list[Any] = []

    def launch(*extra_args: str) -> Any:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        profile = tmp_path / ("chromium" if not drivers else f"chromium-{len(drivers)}")
        for arg in ("--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    f"--user-data-dir={profile}", "--window-size=360,800", "--lang=zh-CN",
                    *extra_args):
            options.add_argument(arg)
        driver = webdriver.Chrome(options=options,
                                  service=Service(executable_path=CHROMEDRIVER))
        driver.set_page_load_timeout(30)
        drivers.append(driver)
        return driver

    yield launch
    for driver in drivers:
        driver.quit()


@pytest.fixture
def browser(launch_browser: Callable[..., Any]) -> Any:
    """Headless Chromium at a phone's width (360 px), no network of its own."""
    return launch_browser()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest, browser):  # type: ignore[no-untyped-def]
    """save(name, driver=browser): a full-width PNG of the current page in tests/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    prefix = request.node.name.replace("[", "-").replace("]", "")

    def save(name: str, driver: Any = None) -> Path:
        driver = driver or browser
        path = ARTIFACTS / f"{prefix}-{name}.png"
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(360, max(640, min(int(height) + 120, 4000)))
        assert driver.save_screenshot(str(path)), f"no screenshot written to {path}"
        return path

    return save


#: The `settings` fixture's WeChat account.
WECHAT_TOKEN, WECHAT_APPID = "test-token", "wxtestappid0001"


def share_location(base_url: str, openid: str, lat: float = 31.2304,
                   lng: float = 121.4737) -> dict[str, str]:
    """A customer shares a GCJ-02 position in chat (signed, 安全模式, as WeChat sends it);
    returns the reply's one news card."""
    import httpx

    from o2o.wechat.simulator import build_request, decode_reply, location_xml
    from tests.conftest import TEST_AES_KEY

    query, body = build_request(location_xml(lat, lng, from_user=openid), token=WECHAT_TOKEN,
                                aes_key=TEST_AES_KEY, appid=WECHAT_APPID)
    r = httpx.post(f"{base_url}/wechat", params=query, content=body, timeout=10)
    (card,) = decode_reply(r.content, token=WECHAT_TOKEN, aes_key=TEST_AES_KEY,
                           appid=WECHAT_APPID, encrypted=True).articles
    return card

