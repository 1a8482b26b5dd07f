"""The small fixed-window limiter: in memory, and shared through Redis."""

from __future__ import annotations

import uuid

import pytest
import redis

from o2o.ratelimit import RateLimiter


def test_in_memory_window() -> None:
    limiter = RateLimiter(name="t", limit=2, window_s=60)
    assert [limiter.hit("a", now=0), limiter.hit("a", now=1), limiter.hit("a", now=2)] == \
        [True, True, False]
    assert limiter.hit("b", now=2)  # another key has its own allowance
    assert limiter.hit("a", now=61)  # a new window


def test_redis_is_shared_between_limiters(redis_url) -> None:
    client = redis.Redis.from_url(redis_url)
    name = f"t-{uuid.uuid4().hex}"
    try:
        one = RateLimiter(name=name, limit=2, window_s=60, redis=client)
        two = RateLimiter(name=name, limit=2, window_s=60, redis=client)
        assert one.hit("ip", now=0) and two.hit("ip", now=1)
        assert not one.hit("ip", now=2)  # the second worker's hit counted for the first
    finally:
        client.close()


def test_redis_down_falls_back_to_memory() -> None:
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    limiter = RateLimiter(name="t", limit=1, window_s=60, redis=client)
    assert limiter.hit("a", now=0) and not limiter.hit("a", now=1)


def test_a_limit_on_failures_counts_only_what_is_noted() -> None:
    from o2o.ratelimit import RateLimited

    limiter = RateLimiter(name="t", limit=2, window_s=60)
    limiter.guard("ip", "no", now=10)  # checking counts nothing
    limiter.note("ip", now=11)
    limiter.note("ip", now=12)
    with pytest.raises(RateLimited) as refused:
        limiter.guard("ip", "too many", now=15)
    assert refused.value.retry_after_s == 45 and refused.value.code == "rate_limited"
    limiter.guard("ip", "a new window", now=60)


def test_rates_are_validated_in_settings() -> None:
    from pydantic import ValidationError

    from o2o.config import Settings
    from o2o.ratelimit import Rate

    assert Rate.parse(Settings(limit_claims_per_ip="5/60").limit_claims_per_ip) == Rate(5, 60)
    for bad in ("0/60", "5", "5/0", "five/60"):
        with pytest.raises(ValidationError):
            Settings(limit_claims_per_ip=bad)
