"""The Official Account endpoint without HTTP: verify, decrypt, de-duplicate, dispatch, wrap.

The web view hands over the query parameters and the raw body and sends back the string
this returns (or maps the WeChatError it raises to a 4xx). Nothing here waits on WeChat's
API; the only I/O on the reply path is a few small database writes, which never block the
answer (see HandlerContext.write).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from o2o.customers.identity import customer_hash
from o2o.metrics import WECHAT_REJECTED, WECHAT_REPLIES
from o2o.services import Services
from o2o.wechat.context import HandlerContext
from o2o.wechat.dedup import MemoryReplyCache, RedisReplyCache, ReplyCache
from o2o.wechat.errors import WeChatError
from o2o.wechat.handlers import build_registry
from o2o.wechat.parsing import parse_message
from o2o.wechat.registry import Registry
from o2o.wechat.security import MessageCrypto, unwrap_request, verify_url, wrap_reply

log = logging.getLogger("o2o.wechat")


class WeChatEndpoint:
    """One per process: holds the crypto, the reply cache and the handler registry."""

    def __init__(self, services: Services, *, registry: Registry[HandlerContext] | None = None,
                 cache: ReplyCache | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        s = services.settings
        self.services = services
        self.crypto = MessageCrypto(
            token=s.wechat_token, encoding_aes_key=s.wechat_aes_key, appid=s.wechat_appid,
            previous_keys=s.previous_aes_keys) if s.wechat_aes_key else None
        self.registry = registry or build_registry()
        if cache is None:
            cache = RedisReplyCache(services.redis) if services.redis is not None \
                else MemoryReplyCache()
        self.cache = cache
        self.clock = clock

    def verify(self, query: Mapping[str, str]) -> str:
        """GET /wechat: the URL check; returns echostr."""
        s = self.services.settings
        return self._guard(lambda: verify_url(query, token=s.wechat_token, now=self.clock(),
                                              window_s=s.wechat_timestamp_window_s))

    def handle(self, query: Mapping[str, str], body: bytes) -> str:
        """POST /wechat: the HTTP body to send back (reply XML, encrypted iff asked, or
        `success`)."""
        return self._guard(lambda: self._handle(query, body))

    def _handle(self, query: Mapping[str, str], body: bytes) -> str:
        s = self.services.settings
        now = self.clock()
        unwrapped = unwrap_request(body, query, token=s.wechat_token, crypto=self.crypto,
                                   now=now, window_s=s.wechat_timestamp_window_s,
                                   max_bytes=s.wechat_max_body_bytes)
        message = parse_message(unwrapped.xml, max_bytes=s.wechat_max_body_bytes)

        ctx = HandlerContext(
            settings=s, catalog=self.services.catalog, sessions=self.services.sessions,
            now=datetime.fromtimestamp(now, UTC),
            customer_hash=customer_hash(message.from_user, s.customer_hash_key))

        def compute() -> str:
            xml = self.registry.respond(message, ctx, now=now)
            WECHAT_REPLIES.labels(_reply_type(xml)).inc()
            return xml

        # Keyed by delivery (no raw openid, even in Redis): a retry gets the first reply.
        xml, _cached = self.cache.get_or_compute(ctx.delivery_key(message), compute)
        return wrap_reply(xml, unwrapped.encrypted, crypto=self.crypto, now=now)

    @staticmethod
    def _guard(work: Callable[[], str]) -> str:
        try:
            return work()
        except WeChatError as exc:
            WECHAT_REJECTED.labels(exc.code).inc()
            # The reason only: never the body, which carries openids and positions.
            log.warning("wechat push refused: %s (%s)", exc.code, exc.message)
            raise


def _reply_type(xml: str) -> str:
    if xml == "success":
        return "success"
    for kind in ("news", "text"):
        if f"<MsgType><![CDATA[{kind}]]></MsgType>" in xml:
            return kind
    return "other"
