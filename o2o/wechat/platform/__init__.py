"""WeChat's server API: one client, the shared token service, and a local stand-in.

- `client.PlatformClient`: HTTP calls, timeouts, retries, errcodes mapped to `errors`.
- `tokens.TokenService`: access token and jsapi_ticket shared through Redis (or in-process).
- `service.WeChatPlatform`: what the rest of the product calls (`platform_of(services)`).
- `standin`: WeChat's server API played locally, for tests and demos.
"""

from o2o.wechat.platform.client import Credential, OAuthIdentity, PlatformClient
from o2o.wechat.platform.errors import PlatformError, PlatformUnavailable, TokenRejected
from o2o.wechat.platform.service import WeChatPlatform, build_platform, platform_of

__all__ = ["Credential", "OAuthIdentity", "PlatformClient", "PlatformError",
           "PlatformUnavailable", "TokenRejected", "WeChatPlatform", "build_platform",
           "platform_of"]
