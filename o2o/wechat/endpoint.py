"""The Official Account endpoint without HTTP: verify, decrypt, bind, de-duplicate, dispatch,
wrap.

The web view hands the query parameters and the raw body to `accept`, gets the reply from
`answer` (on a worker thread when `blocking` says so), waits for the batch holding the
push's writes within `wechat_write_wait_s`, and sends the reply back; a WeChatError from
either step becomes a 4xx. Nothing here waits on WeChat's API, and a slow database never
costs the answer.

What a captured push URL (signature, timestamp, nonce) cannot do: carry a plain body while
an EncodingAESKey is configured (unless `wechat_accept_plaintext` allows it during a
migration), carry a message from another sender than the URL's `openid`, or carry any other
message than the first one seen under its (timestamp, nonce) (nonces.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from o2o.customers.identity import customer_hash
from o2o.db.batch import Batch
from o2o.metrics import WECHAT_REJECTED, WECHAT_REPLIES, WECHAT_WRITE_WAIT_EXPIRED
from o2o.ratelimit import limiter
from o2o.services import Services
from o2o.wechat.context import HandlerContext
from o2o.wechat.dedup import MemoryReplyCache, RedisReplyCache, ReplyCache
from o2o.wechat.errors import NonceReused, WeChatError
from o2o.wechat.handlers import build_registry
from o2o.wechat.nonces import (
    Binding,
    MemoryNonceBindings,
    NonceBindings,
    RedisNonceBindings,
    binding_of,
)
from o2o.wechat.parsing import Message, parse_message
from o2o.wechat.registry import Registry
from o2o.wechat.security import (
    MessageCrypto,
    check_openid,
    unwrap_request,
    verify_url,
    wrap_reply,
)

log = logging.getLogger("o2o.wechat")


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Push:
    """A verified, decoded push with its handler context, ready to be answered."""

    message: Message
    ctx: HandlerContext
    encrypted: bool
    now: float
    binding: Binding


class WeChatEndpoint:
    """One per process: holds the crypto, the nonce bindings, the reply cache and the
    handler registry."""

    def __init__(self, services: Services, *, registry: Registry[HandlerContext] | None = None,
                 cache: ReplyCache | None = None, bindings: NonceBindings | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        s = services.settings
        self.services = services
        self.crypto = MessageCrypto(
            token=s.wechat_token, encoding_aes_key=s.wechat_aes_key, appid=s.wechat_appid,
            previous_keys=s.previous_aes_keys) if s.wechat_aes_key else None
        #: With a key, plain pushes are forgeable from one captured URL: refuse them.
        self.require_encrypted = self.crypto is not None and not s.wechat_accept_plaintext
        self.registry = registry or build_registry()
        if cache is None:
            cache = RedisReplyCache(services.redis) if services.redis is not None \
                else MemoryReplyCache()
        self.cache = cache
        if bindings is None:
            bindings = RedisNonceBindings(services.redis) if services.redis is not None \
                else MemoryNonceBindings()
        self.bindings = bindings
        #: Stores across processes wait on the network: keep them off the event loop.
        self.stores_block = not (isinstance(cache, MemoryReplyCache)
                                 and isinstance(bindings, MemoryNonceBindings))
        self.clock = clock

    def verify(self, query: Mapping[str, str]) -> str:
        """GET /wechat: the URL check; returns echostr."""
        s = self.services.settings
        return self._guard(lambda: verify_url(query, token=s.wechat_token, now=self.clock(),
                                              window_s=s.wechat_timestamp_window_s))

    def accept(self, query: Mapping[str, str], body: bytes) -> Push:
        """Verify, decrypt and parse a push (CPU only); raises WeChatError for a bad one."""
        return self._guard(lambda: self._accept(query, body))

    def blocking(self, push: Push) -> bool:
        """Whether answering may wait on I/O: run `answer` on a worker thread then."""
        return self.registry.blocking(push.message) or self.stores_block

    def answer(self, push: Push) -> tuple[str, Batch | None]:
        """The reply, and the batch its writes commit in (None: nothing was written). The
        caller waits for that batch, within `wechat_write_wait_s`, then sends the reply."""
        return self._guard(lambda: self._answer(push))

    @staticmethod
    def settle(committed: bool) -> None:
        """Note a reply that went out before its writes were committed."""
        if not committed:
            WECHAT_WRITE_WAIT_EXPIRED.inc()

    def secure(self, push: Push) -> bool:
        """The push's batch is late (or failed): journal its rows before the reply is sent,
        so a worker killed before the database returns loses nothing (blocks on fsync)."""
        pending = push.ctx.pending
        if pending is not None and pending.done and pending.ok:
            return True
        return self.services.writer.secure(push.ctx.rows)

    def _accept(self, query: Mapping[str, str], body: bytes) -> Push:
        s = self.services.settings
        now = self.clock()
        unwrapped = unwrap_request(body, query, token=s.wechat_token, crypto=self.crypto,
                                   now=now, window_s=s.wechat_timestamp_window_s,
                                   max_bytes=s.wechat_max_body_bytes,
                                   require_encrypted=self.require_encrypted)
        message = parse_message(unwrapped.xml, max_bytes=s.wechat_max_body_bytes)
        check_openid(query, message.from_user)
        # unwrap_request verified both in the signature, so they are present and bounded.
        binding = binding_of(query["timestamp"], query["nonce"], unwrapped.xml,
                             window_s=s.wechat_timestamp_window_s)
        ctx = HandlerContext(
            settings=s, catalog=self.services.catalog, sessions=self.services.sessions,
            writer=self.services.writer, now=datetime.fromtimestamp(now, UTC),
            customer_hash=customer_hash(message.from_user, s.customer_hash_key),
            searches=limiter(self.services, "searches-customer"))
        return Push(message, ctx, unwrapped.encrypted, now, binding)

    def _answer(self, push: Push) -> tuple[str, Batch | None]:
        # Before anything is computed or written: a retry passes, another body does not.
        if not self.bindings.claim(push.binding, now=push.now):
            raise NonceReused("this timestamp and nonce already came with another message; "
                              "a reused push URL is refused")

        def compute() -> str:
            xml = self.registry.respond(push.message, push.ctx, now=push.now)
            WECHAT_REPLIES.labels(_reply_type(xml)).inc()
            return xml

        # Keyed by delivery (no raw openid, even in Redis): a retry gets the first reply.
        xml, _cached = self.cache.get_or_compute(push.ctx.delivery_key(push.message), compute)
        return (wrap_reply(xml, push.encrypted, crypto=self.crypto, now=push.now),
                push.ctx.pending)

    @staticmethod
    def _guard(work: Callable[[], T]) -> T:
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
