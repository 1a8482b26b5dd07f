"""(timestamp, nonce) bindings: the first message claims the pair, the same one passes again
(WeChat's retry), another is refused until the timestamp is stale; in memory and in Redis."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import redis

from o2o.wechat.nonces import (
    MARGIN_S,
    Binding,
    MemoryNonceBindings,
    NonceBindings,
    RedisNonceBindings,
    binding_of,
)
from o2o.wechat.simulator import location_xml

NOW = 1_700_000_000
WINDOW = 300
FIRST = location_xml(31.23, 121.47, from_user="oVictim", create_time=NOW, msg_id=1)
OTHER = location_xml(31.23, 121.47, from_user="oAttacker", create_time=NOW, msg_id=2)


def claims(nonce: str = "4242") -> tuple[Binding, Binding]:
    """The real message's claim and a forgery's, under one (timestamp, nonce)."""
    return (binding_of(str(NOW), nonce, FIRST, window_s=WINDOW),
            binding_of(str(NOW), nonce, OTHER, window_s=WINDOW))


def test_binding_of() -> None:
    first, other = claims()
    assert first.key == other.key == f"{NOW}:4242"
    assert first.digest != other.digest and len(first.digest) == 32
    assert first == binding_of(str(NOW), "4242", FIRST, window_s=WINDOW)  # a retry: equal
    assert first.expires_at == NOW + WINDOW + MARGIN_S
    assert binding_of(str(NOW), "4243", FIRST, window_s=WINDOW).key != first.key


def first_message_holds(bindings: NonceBindings, nonce: str) -> None:
    first, other = claims(nonce)
    assert bindings.claim(first, now=NOW) is True
    assert bindings.claim(first, now=NOW + 5) is True  # the retry
    assert bindings.claim(other, now=NOW + 5) is False
    assert bindings.claim(other, now=NOW + WINDOW) is False  # the whole window long
    assert bindings.claim(first, now=NOW + WINDOW) is True


# -- memory ---------------------------------------------------------------------------------


def test_memory_first_message_holds() -> None:
    first_message_holds(MemoryNonceBindings(), "1")


def test_memory_claims_expire_when_the_timestamp_is_stale() -> None:
    bindings = MemoryNonceBindings()
    first, other = claims()
    assert bindings.claim(first, now=NOW)
    assert bindings.claim(other, now=first.expires_at + 1) is True  # stale for everyone
    fresh = binding_of(str(NOW + 1000), "7", FIRST, window_s=WINDOW)
    assert bindings.claim(fresh, now=NOW + 1000)
    assert len(bindings) == 1  # the stale one went from the front


def test_memory_is_bounded_oldest_first() -> None:
    bindings = MemoryNonceBindings(max_entries=3)
    made = [binding_of(str(NOW), str(n), FIRST, window_s=WINDOW) for n in range(4)]
    for b in made:
        assert bindings.claim(b, now=NOW)
    assert len(bindings) == 3
    forged = binding_of(str(NOW), "0", OTHER, window_s=WINDOW)
    assert bindings.claim(forged, now=NOW) is True  # the oldest was evicted
    assert bindings.claim(binding_of(str(NOW), "3", OTHER, window_s=WINDOW), now=NOW) is False


# -- redis ----------------------------------------------------------------------------------


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    value = f"o2o-test:{secrets.token_hex(6)}:"
    yield value
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=value + "*"):
        client.delete(key)
    client.close()


@pytest.mark.redis
def test_redis_first_message_holds_across_workers(redis_url: str, prefix: str) -> None:
    # Each "worker" has its own connection and its own fallback, as processes would.
    clients = [redis.Redis.from_url(redis_url) for _ in range(2)]
    one, two = (RedisNonceBindings(c, prefix=prefix) for c in clients)
    first, other = claims()
    assert one.claim(first, now=NOW)
    assert two.claim(first, now=NOW + 1) is True
    assert two.claim(other, now=NOW + 1) is False
    ttl = clients[0].pttl(prefix + first.key)
    assert (WINDOW + MARGIN_S - 5) * 1000 < ttl <= (WINDOW + MARGIN_S) * 1000
    assert len(one.fallback) == len(two.fallback) == 0  # Redis answered, memory unused
    for c in clients:
        c.close()


@pytest.mark.redis
def test_redis_ttl_is_what_is_left_of_the_window(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    bindings = RedisNonceBindings(client, prefix=prefix)
    first, _ = claims()
    assert bindings.claim(first, now=first.expires_at - 10)
    assert 9_000 < client.pttl(prefix + first.key) <= 10_000
    client.close()


def test_redis_down_binds_in_this_process() -> None:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2,
                         retry=Retry(NoBackoff(), 0))
    first_message_holds(RedisNonceBindings(client), "9")
    client.close()
