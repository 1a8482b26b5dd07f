"""`WeChatPlatform`: the calls this product makes to WeChat, each with the shared token.

Build it with `build_platform(settings, redis=...)`, or take the process's own with
`platform_of(services)` (built on first use, closed with the services). Nothing on the
/wechat reply path calls it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from o2o.config import Settings
from o2o.wechat.platform.client import OAuthIdentity, PlatformClient
from o2o.wechat.platform.store import MemoryStore, RedisStore
from o2o.wechat.platform.tokens import Timing, TokenService

_EXTRA = "wechat_platform"
_BUILD_LOCK = threading.Lock()


class WeChatPlatform:
    """WeChat's server API for this Official Account: token service plus the calls."""

    def __init__(self, *, client: PlatformClient, tokens: TokenService) -> None:
        self.client, self.tokens = client, tokens

    def access_token(self) -> str:
        return self.tokens.access_token()

    def jsapi_ticket(self) -> str:
        return self.tokens.jsapi_ticket()

    def exchange_code(self, code: str) -> OAuthIdentity:
        """OAuth (snsapi_base): the openid behind a code from WeChat's authorize redirect."""
        return self.client.exchange_code(code)

    def create_menu(self, menu: Mapping[str, Any]) -> None:
        self.tokens.call(lambda token: self.client.create_menu(token, menu))

    def send_subscribe(self, *, openid: str, template_id: str, scene: str, title: str,
                       content: str, url: str | None = None) -> None:
        """One one-time subscribe message (服务号 一次性订阅消息) to a customer who consented."""
        self.tokens.call(lambda token: self.client.send_subscribe(
            token, openid=openid, template_id=template_id, scene=scene, title=title,
            content=content, url=url))

    def status(self) -> dict[str, Any]:
        return self.tokens.status()

    def close(self) -> None:
        self.client.close()


def build_platform(settings: Settings, *, redis: Any = None,
                   clock: Callable[[], float] = time.time,
                   timing: Timing | None = None) -> WeChatPlatform:
    """The platform for `settings`' Official Account; shared through `redis` when given."""
    client = PlatformClient(appid=settings.wechat_appid, secret=settings.wechat_secret,
                            base_url=settings.wechat_api_base,
                            timeout_s=settings.wechat_api_timeout_s,
                            retries=settings.wechat_api_retries)
    store = RedisStore(redis) if redis is not None else MemoryStore()
    return WeChatPlatform(client=client,
                          tokens=TokenService(client=client, store=store, clock=clock,
                                              timing=timing))


def platform_of(services: Any) -> WeChatPlatform:
    """The process's platform (o2o.services.Services), built on first use; no network then."""
    with _BUILD_LOCK:
        platform = services.extras.get(_EXTRA)
        if platform is None:
            platform = build_platform(services.settings, redis=services.redis)
            services.extras[_EXTRA] = platform
        return platform
