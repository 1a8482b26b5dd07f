"""Recognise WeChat's retries: the first delivery computes the reply, every retry gets it back.

WeChat retries a push up to twice when no answer comes within 5 s. Deliveries of the same
key (Message.dedup_key) compute once, even when they arrive concurrently: the others wait
for the first and return its reply, flagged `cached` so nothing is counted twice.
MemoryReplyCache serves one process; RedisReplyCache works across worker processes.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

import redis

from o2o.wechat.errors import ReplyPending

log = logging.getLogger("o2o.wechat")

DEFAULT_TTL_S = 60.0
#: A waiter gives up before WeChat's 5 s deadline, so WeChat's next retry can collect the reply.
DEFAULT_WAIT_S = 4.5


class ReplyCache(Protocol):
    """Compute a reply once per key within the TTL; return (reply, was_cached)."""

    def get_or_compute(self, key: str, compute: Callable[[], str]) -> tuple[str, bool]: ...


class MemoryReplyCache:
    """In-process reply cache: TTL, bounded, thread-safe, one computation per key.

    Entries stay in insertion order, which with one TTL is expiry order: expiring and
    evicting pop from the front in O(1), and the oldest entry goes first when full.
    """

    def __init__(self, *, ttl_s: float = DEFAULT_TTL_S, max_entries: int = 10_000,
                 wait_s: float = DEFAULT_WAIT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.wait_s = wait_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._key_locks: dict[str, list[Any]] = {}  # key -> [Lock, number of holders/waiters]

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._entries)

    def get_or_compute(self, key: str, compute: Callable[[], str]) -> tuple[str, bool]:
        """Return the cached reply, or compute it while concurrent deliveries of key wait."""
        with self._lock:
            hit = self._get(key)
            if hit is not None:
                return hit, True
            slot = self._key_locks.setdefault(key, [threading.Lock(), 0])
            slot[1] += 1
        try:
            if not slot[0].acquire(timeout=self.wait_s):
                raise ReplyPending(f"reply for {key} is still being computed")
            try:
                with self._lock:
                    hit = self._get(key)
                if hit is not None:
                    return hit, True
                reply = compute()
                with self._lock:
                    self._put(key, reply)
                return reply, False
            finally:
                slot[0].release()
        finally:
            with self._lock:
                slot[1] -= 1
                if slot[1] == 0:
                    del self._key_locks[key]

    def _get(self, key: str) -> str | None:
        """A live entry (caller holds the lock)."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def _put(self, key: str, reply: str) -> None:
        """Store at the back, then drop expired entries and the oldest beyond the bound."""
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + self.ttl_s, reply)
        self._expire()
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def _expire(self) -> None:
        now = self._clock()
        while self._entries:
            expires, _ = next(iter(self._entries.values()))
            if expires > now:
                break
            self._entries.popitem(last=False)


# Delete the lock only if it is still ours (it may have expired and been taken over).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
# The stored reply ({1, reply}), or else our lock taken ({0}), or else held by another ({2}):
# one round trip, and atomic, so no reply can be stored between the look and the lock.
_TAKE = """
local stored = redis.call('get', KEYS[1])
if stored then return {1, stored} end
if redis.call('set', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0} end
return {2}
"""
# Store the reply and release our lock in one round trip.
_STORE = """
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('get', KEYS[2]) == ARGV[3] then redis.call('del', KEYS[2]) end
return 1
"""


class RedisReplyCache:
    """Reply cache shared by worker processes: SET NX lock, stored reply, waiters poll briefly.

    If Redis itself fails, the reply is computed anyway (logged): answering the customer
    matters more than a possible double count.
    """

    def __init__(self, client: Any, *, prefix: str = "o2o:wechat:reply:",
                 ttl_s: float = DEFAULT_TTL_S, lock_s: float = 10.0,
                 wait_s: float = DEFAULT_WAIT_S, poll_s: float = 0.02) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_ms = int(ttl_s * 1000)
        self.lock_ms = int(lock_s * 1000)
        self.wait_s = wait_s
        self.poll_s = poll_s
        self._take = client.register_script(_TAKE)
        self._release = client.register_script(_RELEASE)
        self._store = client.register_script(_STORE)

    def get_or_compute(self, key: str, compute: Callable[[], str]) -> tuple[str, bool]:
        """Return the stored reply, or take the lock and compute it, or wait for the holder."""
        state: dict[str, Any] = {}

        def once() -> str:
            state["started"] = True
            state["reply"] = compute()
            return state["reply"]

        try:
            return self._get_or_compute(key, once)
        except redis.RedisError as exc:
            if state.get("started") and "reply" not in state:
                raise  # the handler itself failed; its error is not the cache's
            log.warning("Redis reply cache unavailable (%s); answering without de-duplication", exc)
            return (state["reply"] if "reply" in state else compute()), False

    def _get_or_compute(self, key: str, compute: Callable[[], str]) -> tuple[str, bool]:
        reply_key, lock_key = self.prefix + key, self.prefix + key + ":lock"
        token = secrets.token_hex(16)
        deadline = time.monotonic() + self.wait_s
        while True:
            # A fresh delivery costs two round trips: this one and the store.
            taken = self._take(keys=[reply_key, lock_key], args=[token, self.lock_ms])
            if int(taken[0]) == 1:
                return as_text(taken[1]), True
            if int(taken[0]) == 0:
                break
            if time.monotonic() >= deadline:
                raise ReplyPending(f"reply for {key} is still being computed by another worker")
            time.sleep(self.poll_s)
        try:
            reply = compute()
        except BaseException:
            self._release(keys=[lock_key], args=[token])
            raise
        self._store(keys=[reply_key, lock_key], args=[reply, self.ttl_ms, token])
        return reply, False


def as_text(value: str | bytes) -> str:
    """A value read from Redis as text (clients may or may not decode responses)."""
    return value.decode("utf-8") if isinstance(value, bytes) else value
