"""A small fixed-window rate limiter: Redis when configured (shared by every worker), else
this process's memory. A Redis outage falls back to memory rather than locking people out.

`limiter(services, name)` hands out the process's limiter for one of the configured abuse
limits (`LIMITS`: the setting that sizes it); every refusal is counted in /metrics as
`o2o_rate_limited_total{limit=...}`.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from o2o.errors import O2OError
from o2o.metrics import RATE_LIMITED

if TYPE_CHECKING:
    from o2o.services import Services

#: Abuse limits by name -> the Settings field ("COUNT/SECONDS") that sizes it.
LIMITS = {
    "token-failures-ip": "limit_token_failures_per_ip",
    "coupon-tries-staff": "limit_coupon_tries_per_staff",
    "claims-customer": "limit_claims_per_customer",
    "claims-ip": "limit_claims_per_ip",
    "searches-customer": "limit_searches_per_customer",
}

# One round trip, atomic: count the hit and start the window's expiry on the first (a key
# never outlives its window, even if the worker dies between the two).
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class RateLimited(O2OError):
    """Too many attempts: 429 with Retry-After (`retry_after_s`)."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, details={"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class Verdict(NamedTuple):
    allowed: bool
    #: Seconds until the window ends (when a refused caller may try again).
    retry_after_s: int


class RateLimiter:
    """At most `limit` hits per key in each `window_s` window."""

    def __init__(self, *, name: str, limit: int, window_s: int, redis: Any | None = None,
                 namespace: str = "") -> None:
        self.name, self.limit, self.window_s, self.redis = name, limit, window_s, redis
        self.prefix = f"o2o:rl:{namespace}:{name}" if namespace else f"o2o:rl:{name}"
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window number, hits)

    def hit(self, key: str, *, now: float | None = None) -> bool:
        """Count one attempt for `key`; False when it is over the limit."""
        return self.take(key, now=now).allowed

    def take(self, key: str, *, now: float | None = None) -> Verdict:
        """Count one attempt for `key`; the verdict says whether it is within the limit."""
        return self._verdict(self._count(key, now, add=1) <= self.limit, now)

    def check(self, key: str, message: str, *, now: float | None = None) -> None:
        """Count one attempt; RateLimited when it is over the limit."""
        verdict = self.take(key, now=now)
        if not verdict.allowed:
            raise RateLimited(message, retry_after_s=verdict.retry_after_s)

    def note(self, key: str, *, now: float | None = None) -> None:
        """Count one failure for `key` (a limit on failures: see `guard`)."""
        self._count(key, now, add=1)

    def guard(self, key: str, message: str, *, now: float | None = None) -> None:
        """RateLimited when `key` has used up its allowance already; counts nothing."""
        verdict = self._verdict(self._count(key, now, add=0) < self.limit, now)
        if not verdict.allowed:
            raise RateLimited(message, retry_after_s=verdict.retry_after_s)

    def _verdict(self, allowed: bool, now: float | None) -> Verdict:
        now = time.time() if now is None else now
        if not allowed:
            RATE_LIMITED.labels(self.name).inc()
        return Verdict(allowed, max(1, math.ceil(self.window_s - now % self.window_s)))

    def _count(self, key: str, now: float | None, *, add: int) -> int:
        now = time.time() if now is None else now
        window = int(now // self.window_s)
        if self.redis is not None:
            count = self._redis_count(key, window, add)
            if count is not None:
                return count
        with self._lock:
            seen_window, hits = self._counts.get(key, (window, 0))
            hits = (hits if seen_window == window else 0) + add
            if len(self._counts) > 10_000:  # old windows only: a flood of keys stays bounded
                self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
            if add:
                self._counts[key] = (window, hits)
        return hits

    def _redis_count(self, key: str, window: int, add: int) -> int | None:
        import redis

        name = f"{self.prefix}:{window}:{key}"
        try:
            if not add:
                return int(self.redis.get(name) or 0)
            count = self.redis.eval(_HIT, 1, name, self.window_s + 1)
        except redis.RedisError:
            return None
        return int(count)


class Rate(NamedTuple):
    """A limit as configured: `count` per `window_s` seconds ("20/300")."""

    count: int
    window_s: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        count, _, window = text.partition("/")
        rate = cls(int(count), int(window))
        if rate.count < 1 or rate.window_s < 1:
            raise ValueError(f"a rate is COUNT/SECONDS, both at least 1, not {text!r}")
        return rate


def limiter(services: Services, name: str) -> RateLimiter:
    """This process's limiter `name` (one of LIMITS), shared through Redis when configured."""
    key = f"ratelimit:{name}"
    found = services.extras.get(key)
    if found is None:
        rate = Rate.parse(getattr(services.settings, LIMITS[name]))
        # Counts belong to one deployment (one database): two sharing a Redis stay apart.
        namespace = hashlib.sha1(services.settings.database_url.encode()).hexdigest()[:10]
        found = services.extras.setdefault(key, RateLimiter(
            name=name, limit=rate.count, window_s=rate.window_s, redis=services.redis,
            namespace=namespace))
    return found
