"""A small fixed-window rate limiter: Redis when configured (shared by every worker), else
this process's memory. A Redis outage falls back to memory rather than locking people out."""

from __future__ import annotations

import threading
import time
from typing import Any


class RateLimiter:
    """At most `limit` hits per key in each `window_s` window."""

    def __init__(self, *, name: str, limit: int, window_s: int, redis: Any | None = None) -> None:
        self.name, self.limit, self.window_s, self.redis = name, limit, window_s, redis
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window number, hits)

    def hit(self, key: str, *, now: float | None = None) -> bool:
        """Count one attempt for `key`; False when it is over the limit."""
        now = time.time() if now is None else now
        window = int(now // self.window_s)
        if self.redis is not None:
            count = self._redis_hit(key, window)
            if count is not None:
                return count <= self.limit
        with self._lock:
            seen_window, hits = self._counts.get(key, (window, 0))
            hits = hits + 1 if seen_window == window else 1
            if len(self._counts) > 10_000:  # old windows only: a flood of keys stays bounded
                self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
            self._counts[key] = (window, hits)
        return hits <= self.limit

    def _redis_hit(self, key: str, window: int) -> int | None:
        import redis

        name = f"o2o:rl:{self.name}:{window}:{key}"
        try:
            pipe = self.redis.pipeline()
            pipe.incr(name)
            pipe.expire(name, self.window_s + 1)
            count, _ = pipe.execute()
        except redis.RedisError:
            return None
        return int(count)
