"""Where the token service keeps what every worker shares: Redis across hosts, else in-process.

Both stores offer the same four operations (JSON values with a TTL, a lock with a TTL and an
owner, a counter), so `tokens.TokenService` has one logic for both. Redis strings have no
practical length limit, so a token keeps far more than WeChat's 512 characters of room.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from o2o.wechat.platform.errors import PlatformUnavailable

# Delete the lock only if we still own it (it may have expired and been taken by another).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class Store(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...
    def put(self, key: str, value: dict[str, Any], *, ttl_s: float) -> None: ...
    def acquire(self, key: str, *, ttl_s: float) -> str | None: ...
    def release(self, key: str, owner: str) -> None: ...
    def incr(self, key: str, *, ttl_s: float) -> int: ...


class MemoryStore:
    """The in-process store: one per process, shared by its threads."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> Any:
        item = self._items.get(key)
        if item is None or item[0] <= time.monotonic():
            self._items.pop(key, None)
            return None
        return item[1]

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            value = self._live(key)
            return dict(value) if value is not None else None

    def put(self, key: str, value: dict[str, Any], *, ttl_s: float) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + ttl_s, dict(value))

    def acquire(self, key: str, *, ttl_s: float) -> str | None:
        with self._lock:
            if self._live(key) is not None:
                return None
            owner = secrets.token_hex(8)
            self._items[key] = (time.monotonic() + ttl_s, owner)
            return owner

    def release(self, key: str, owner: str) -> None:
        with self._lock:
            if self._live(key) == owner:
                del self._items[key]

    def incr(self, key: str, *, ttl_s: float) -> int:
        with self._lock:
            count = int(self._live(key) or 0) + 1
            expiry = self._items[key][0] if key in self._items else time.monotonic() + ttl_s
            self._items[key] = (expiry, count)
            return count


class RedisStore:
    """The shared store: every worker on every host sees the same token, lock and counters.
    A Redis failure surfaces as `PlatformUnavailable` (call "token store"), like WeChat's own."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._release = redis.register_script(_RELEASE)

    def get(self, key: str) -> dict[str, Any] | None:
        with _redis_errors():
            raw = self._redis.get(key)
        return json.loads(raw) if raw is not None else None

    def put(self, key: str, value: dict[str, Any], *, ttl_s: float) -> None:
        with _redis_errors():
            self._redis.set(key, json.dumps(value), px=max(1, int(ttl_s * 1000)))

    def acquire(self, key: str, *, ttl_s: float) -> str | None:
        owner = secrets.token_hex(8)
        with _redis_errors():
            taken = self._redis.set(key, owner, nx=True, px=int(ttl_s * 1000))
        return owner if taken else None

    def release(self, key: str, owner: str) -> None:
        with _redis_errors():
            self._release(keys=[key], args=[owner])

    def incr(self, key: str, *, ttl_s: float) -> int:
        with _redis_errors(), self._redis.pipeline() as pipe:
            pipe.set(key, 0, nx=True, ex=max(1, int(ttl_s)))  # the TTL starts with the count
            pipe.incr(key)
            _, count = pipe.execute()
        return int(count)


@contextmanager
def _redis_errors() -> Iterator[None]:
    import redis

    try:
        yield
    except redis.RedisError as exc:
        raise PlatformUnavailable(call="token store", errcode=None,
                                  errmsg=f"Redis: {type(exc).__name__}") from exc
