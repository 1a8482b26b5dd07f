"""WeChat's server API played by the stand-in on a free local port, and platforms talking to it
over real HTTP. Reusable: `standin` (steer it, read its calls), `standin_url`, `clock` (shared
by the stand-in and the platforms, so tests move time instead of sleeping), `make_platform`.
Tests through the app override `standin` with the app's appid and `settings` with
`wechat_api_base=standin_url` (see test_app.py).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from o2o.config import Settings
from o2o.wechat.platform import WeChatPlatform, build_platform
from o2o.wechat.platform.standin import StandIn
from o2o.wechat.platform.standin_http import running
from o2o.wechat.platform.tokens import Timing

SECRET = "standin-secret-0123456789"
TEMPLATE = "o2o-standin-template"
#: Fast enough for tests: a caller without a token waits at most 5 s for another's refresh.
TIMING = Timing(lock_ttl_s=5.0, wait_s=5.0, poll_s=0.01)


class Clock:
    """Wall-clock seconds that a test moves forward by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def standin(clock: Clock) -> StandIn:
    """A fresh Official Account on the stand-in, its appid unique to the test (Redis keys too)."""
    return StandIn(appid=f"wxt{uuid.uuid4().hex[:15]}", secret=SECRET, clock=clock,
                   template_ids={TEMPLATE})


@pytest.fixture
def standin_url(standin: StandIn) -> Iterator[str]:
    with running(standin) as url:
        yield url


@pytest.fixture
def platform_settings(standin: StandIn, standin_url: str) -> Settings:
    """Settings pointing at the stand-in (no database needed)."""
    return Settings(wechat_api_base=standin_url, wechat_appid=standin.appid,
                    wechat_secret=SECRET, wechat_api_timeout_s=2.0, wechat_api_retries=2,
                    wechat_subscribe_template_id=TEMPLATE)


@pytest.fixture
def make_platform(platform_settings: Settings, clock: Clock
                  ) -> Iterator[Callable[..., WeChatPlatform]]:
    """Build platforms on the stand-in (`redis=` a client to share through Redis); closed after."""
    built: list[WeChatPlatform] = []

    def make(*, redis: Any = None, **updates: Any) -> WeChatPlatform:
        settings = platform_settings.model_copy(update=updates)
        platform = build_platform(settings, redis=redis, clock=clock, timing=TIMING)
        built.append(platform)
        return platform

    yield make
    for platform in built:
        platform.close()


@pytest.fixture
def platform(make_platform: Callable[..., WeChatPlatform]) -> WeChatPlatform:
    """One platform with the in-process store."""
    return make_platform()
