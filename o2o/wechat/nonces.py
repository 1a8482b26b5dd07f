"""Bind each (timestamp, nonce) to the first message it came with, for as long as it is fresh.

WeChat's plain signature covers token, timestamp and nonce, never the body: whoever saw one
push URL (a proxy's log) could post any other body under it until the timestamp goes stale.
So the first authenticated push under a (timestamp, nonce) claims the pair with a digest of
its message. The same message again is WeChat's retry (the reply cache answers it with the
first reply); another message under that pair is refused. The digest is of the trusted
plaintext (decrypted when the push came encrypted), so a retry stays a retry however it was
encrypted. MemoryNonceBindings serves one process; RedisNonceBindings every worker and host,
at the cost of one SET NX per push (a GET more only for a retry).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from typing import Any, NamedTuple, Protocol

import redis

from o2o.wechat.dedup import as_text

log = logging.getLogger("o2o.wechat")

#: Kept this long past the freshness window, for clocks that differ between hosts.
MARGIN_S = 60


class Binding(NamedTuple):
    """A push's claim: its (timestamp, nonce), its message's digest, and until when it holds."""

    key: str
    digest: str
    #: Wall-clock time after which the timestamp is stale everywhere: nothing left to guard.
    expires_at: float


def binding_of(timestamp: str, nonce: str, xml: str, *, window_s: float) -> Binding:
    """The claim of a verified push (timestamp and nonce already checked by the signature)."""
    digest = hashlib.blake2b(xml.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return Binding(f"{timestamp}:{nonce}", digest, int(timestamp) + window_s + MARGIN_S)


class NonceBindings(Protocol):
    """Claim a (timestamp, nonce): True if it is new or bound to this digest already."""

    def claim(self, binding: Binding, *, now: float) -> bool: ...


class MemoryNonceBindings:
    """In-process bindings: thread-safe, expiring, bounded (the oldest claim goes first).

    Claims arrive in about the order they expire (their timestamps are all within the
    window of arrival), so expiring from the front is O(1) per claim; an entry that outlives
    its time behind a later one is harmless, as its timestamp is refused as stale anyway.
    About 330 bytes a claim: the default bound (~33 MB) holds a full window of pushes up to
    about 150 a second; beyond that the oldest claims go early (use Redis at such rates).
    """

    def __init__(self, *, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def claim(self, binding: Binding, *, now: float) -> bool:
        with self._lock:
            held = self._entries.get(binding.key)
            if held is not None:
                if held[0] > now:
                    return held[1] == binding.digest
                del self._entries[binding.key]  # stale: claimed afresh, at the back
            self._entries[binding.key] = (binding.expires_at, binding.digest)
            while self._entries:
                expires, _ = next(iter(self._entries.values()))
                if expires > now and len(self._entries) <= self.max_entries:
                    break
                self._entries.popitem(last=False)
            return True


class RedisNonceBindings:
    """Bindings shared by every worker and host: SET NX with the remaining freshness as TTL.

    If Redis fails, this process's own bindings stand in (logged): pushes keep being
    answered, and a forgery is still refused by the worker that saw the original.
    """

    def __init__(self, client: Any, *, prefix: str = "o2o:wechat:nonce:",
                 fallback: MemoryNonceBindings | None = None) -> None:
        self.client = client
        self.prefix = prefix
        self.fallback = fallback if fallback is not None else MemoryNonceBindings()

    def claim(self, binding: Binding, *, now: float) -> bool:
        key = self.prefix + binding.key
        ttl_ms = max(1000, int((binding.expires_at - now) * 1000))
        try:
            if self.client.set(key, binding.digest, nx=True, px=ttl_ms):
                return True
            held = self.client.get(key)
        except redis.RedisError as exc:
            log.warning("Redis unavailable for nonce bindings (%s); binding in this process only",
                        exc)
            return self.fallback.claim(binding, now=now)
        # None: it expired between the two calls, so the timestamp is stale for everyone.
        return held is None or as_text(held) == binding.digest
