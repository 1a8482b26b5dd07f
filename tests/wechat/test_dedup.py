"""Reply caches: a retry gets the first reply; concurrent deliveries compute once."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from o2o.wechat.dedup import MemoryReplyCache, RedisReplyCache, ReplyCache
from o2o.wechat.errors import ReplyPending


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def slow_compute(release: threading.Event, calls: list[int], reply: str) -> Callable[[], str]:
    """A computation that blocks until released, counting how often it ran."""
    def compute() -> str:
        calls.append(1)
        release.wait(5)
        return reply
    return compute


def concurrent_deliveries(cache: ReplyCache, key: str, n: int = 6) -> tuple[list[tuple[str, bool]], int]:
    """n deliveries of one key at once; the first computation is held until all have arrived."""
    calls: list[int] = []
    release = threading.Event()
    compute = slow_compute(release, calls, f"reply-{key}")
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(cache.get_or_compute, key, compute) for _ in range(n)]
        threading.Timer(0.3, release.set).start()
        results = [f.result(timeout=10) for f in futures]
    return results, len(calls)


# -- memory ---------------------------------------------------------------------------------


def test_memory_retry_gets_the_same_reply() -> None:
    cache = MemoryReplyCache()
    assert cache.get_or_compute("msg:1", lambda: "first") == ("first", False)
    assert cache.get_or_compute("msg:1", lambda: "second") == ("first", True)
    assert cache.get_or_compute("msg:2", lambda: "other") == ("other", False)


def test_memory_concurrent_deliveries_compute_once() -> None:
    results, calls = concurrent_deliveries(MemoryReplyCache(), "msg:42")
    assert calls == 1
    assert {r for r, _ in results} == {"reply-msg:42"}
    assert sorted(cached for _, cached in results) == [False] + [True] * 5


def test_memory_ttl() -> None:
    clock = FakeClock()
    cache = MemoryReplyCache(ttl_s=60, clock=clock)
    cache.get_or_compute("k", lambda: "a")
    clock.now += 59
    assert cache.get_or_compute("k", lambda: "b") == ("a", True)
    clock.now += 2
    assert cache.get_or_compute("k", lambda: "c") == ("c", False)


def test_memory_is_bounded_oldest_first() -> None:
    cache = MemoryReplyCache(max_entries=3)
    for key in "abcd":
        cache.get_or_compute(key, lambda k=key: k)
    assert len(cache) == 3
    assert cache.get_or_compute("b", lambda: "x") == ("b", True)
    assert cache.get_or_compute("a", lambda: "recomputed") == ("recomputed", False)
    assert cache.get_or_compute("c", lambda: "x") == ("c", True)
    assert cache.get_or_compute("b", lambda: "b2") == ("b2", False)  # a's return pushed b out


def test_memory_expired_entries_are_dropped() -> None:
    clock = FakeClock()
    cache = MemoryReplyCache(ttl_s=10, clock=clock)
    for key in "ab":
        cache.get_or_compute(key, lambda k=key: k)
    clock.now += 5
    cache.get_or_compute("c", lambda: "c")
    clock.now += 6  # a and b expired, c has 4 s left
    assert len(cache) == 1
    assert cache.get_or_compute("c", lambda: "x") == ("c", True)


def test_memory_failure_is_not_cached_and_locks_are_released() -> None:
    cache = MemoryReplyCache()

    def boom() -> str:
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", boom)
    assert cache.get_or_compute("k", lambda: "ok") == ("ok", False)
    assert cache._key_locks == {}


def test_memory_waiter_gives_up_before_wechats_deadline() -> None:
    cache = MemoryReplyCache(wait_s=0.05)
    release = threading.Event()
    calls: list[int] = []
    first = threading.Thread(target=cache.get_or_compute,
                             args=("k", slow_compute(release, calls, "late")))
    first.start()
    while not calls:
        threading.Event().wait(0.005)
    with pytest.raises(ReplyPending):
        cache.get_or_compute("k", lambda: "second")
    release.set()
    first.join()
    assert cache.get_or_compute("k", lambda: "third") == ("late", True)


# -- redis ----------------------------------------------------------------------------------


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    value = f"o2o-test:{secrets.token_hex(6)}:"
    yield value
    for key in redis_client.scan_iter(match=value + "*"):
        redis_client.delete(key)


def test_redis_retry_gets_the_same_reply(redis_client: redis.Redis, prefix: str) -> None:
    cache = RedisReplyCache(redis_client, prefix=prefix)
    assert cache.get_or_compute("msg:1", lambda: "第一次") == ("第一次", False)
    assert cache.get_or_compute("msg:1", lambda: "second") == ("第一次", True)
    ttl = redis_client.pttl(prefix + "msg:1")
    assert 0 < ttl <= 60_000
    assert redis_client.exists(prefix + "msg:1:lock") == 0


def test_redis_round_trips_per_delivery(redis_client: redis.Redis, prefix: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh delivery costs two round trips (look-or-lock, store-and-unlock), a retry one."""
    cache = RedisReplyCache(redis_client, prefix=prefix)
    cache.get_or_compute("msg:warm", lambda: "x")  # the scripts are loaded once
    sent: list[object] = []
    real = redis_client.execute_command

    def counted(*args, **kw):  # type: ignore[no-untyped-def]
        sent.append(args[0])
        return real(*args, **kw)

    monkeypatch.setattr(redis_client, "execute_command", counted)
    assert cache.get_or_compute("msg:2", lambda: "reply") == ("reply", False)
    assert len(sent) == 2
    sent.clear()
    assert cache.get_or_compute("msg:2", lambda: "other") == ("reply", True)
    assert len(sent) == 1
    assert redis_client.exists(prefix + "msg:2:lock") == 0


def test_redis_workers_compute_once(redis_url: str, prefix: str) -> None:
    # Each "worker" has its own connection pool, as separate processes would.
    clients = [redis.Redis.from_url(redis_url) for _ in range(6)]
    caches = [RedisReplyCache(c, prefix=prefix, poll_s=0.01) for c in clients]
    calls: list[int] = []
    release = threading.Event()
    compute = slow_compute(release, calls, "only once")
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(c.get_or_compute, "evt:o1:5:click", compute) for c in caches]
        threading.Timer(0.3, release.set).start()
        results = [f.result(timeout=10) for f in futures]
    for c in clients:
        c.close()
    assert len(calls) == 1
    assert {r for r, _ in results} == {"only once"}
    assert sorted(cached for _, cached in results) == [False] + [True] * 5


def test_redis_failed_computation_frees_the_lock(redis_client: redis.Redis, prefix: str) -> None:
    cache = RedisReplyCache(redis_client, prefix=prefix)

    def boom() -> str:
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", boom)
    assert redis_client.exists(prefix + "k:lock") == 0
    assert cache.get_or_compute("k", lambda: "ok") == ("ok", False)


def test_redis_waiter_gives_up_when_the_holder_is_stuck(redis_client: redis.Redis, prefix: str) -> None:
    redis_client.set(prefix + "k:lock", "someone else", px=10_000)
    cache = RedisReplyCache(redis_client, prefix=prefix, wait_s=0.1, poll_s=0.01)
    with pytest.raises(ReplyPending):
        cache.get_or_compute("k", lambda: "never")
    assert redis_client.get(prefix + "k:lock") == b"someone else"  # not ours to delete


def test_redis_down_still_answers() -> None:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2,
                         retry=Retry(NoBackoff(), 0))
    cache = RedisReplyCache(client)
    assert cache.get_or_compute("k", lambda: "answered anyway") == ("answered anyway", False)
    client.close()


def test_redis_error_inside_the_handler_is_not_swallowed(redis_client: redis.Redis, prefix: str) -> None:
    cache = RedisReplyCache(redis_client, prefix=prefix)
    calls: list[int] = []

    def handler_uses_redis() -> str:
        calls.append(1)
        raise redis.ConnectionError("the handler's own Redis call failed")

    with pytest.raises(redis.ConnectionError):
        cache.get_or_compute("k", handler_uses_redis)
    assert calls == [1]
