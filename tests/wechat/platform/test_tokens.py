"""The shared token: one fetch per validity window for all workers, single-flight refresh,
one refresh and one retry for a rejected token, WeChat's force-refresh limits."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from o2o.services import connect_redis
from o2o.wechat.platform import PlatformUnavailable, TokenRejected, WeChatPlatform
from o2o.wechat.platform.errors import QuotaExceeded
from o2o.wechat.platform.standin import StandIn
from o2o.wechat.platform.store import RedisStore

from .conftest import Clock
from .test_client import MENU


def concurrently(calls: list[Callable[[], str]]) -> set[str]:
    """Run the calls at once (released together) and return the distinct answers."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], str]) -> str:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return set(pool.map(run, calls))


@pytest.fixture
def redis_clients(redis_url: str):  # type: ignore[no-untyped-def]
    """Two independent Redis connections: two workers' views of the shared store."""
    clients = [connect_redis(redis_url), connect_redis(redis_url)]
    yield clients
    for client in clients:
        client.close()


@pytest.mark.redis
def test_two_workers_fetch_one_token_per_validity_window(make_platform, standin: StandIn,
                                                         clock: Clock, redis_clients) -> None:
    workers = [make_platform(redis=r) for r in redis_clients]
    tokens = concurrently([w.access_token for w in workers for _ in range(8)])
    assert len(tokens) == 1 and standin.count("stable_token") == 1
    first = tokens.pop()

    clock.advance(3600)  # mid-window: everyone reads the shared value
    assert concurrently([w.access_token for w in workers for _ in range(8)]) == {first}
    assert standin.count("stable_token") == 1

    clock.advance(7200 - 3600 - 200)  # inside the refresh-ahead window (240 s before expiry)
    # The first to see it due refreshes; the others serve the old token, still valid.
    assert concurrently([w.access_token for w in workers for _ in range(8)]) <= {
        first, _current(standin)}
    assert standin.count("stable_token") == 2
    second = workers[1].access_token()
    assert second != first and second == _current(standin)

    clock.advance(7200)  # the next window
    assert concurrently([w.access_token for w in workers for _ in range(8)]) == {
        _current(standin)}
    assert standin.count("stable_token") == 3
    assert standin.count("stable_token", force_refresh=True) == 0


def _current(standin: StandIn) -> str:
    """The token WeChat hands out now (read from the stand-in's state, not its API)."""
    return standin._current.value  # type: ignore[union-attr]


@pytest.mark.redis
def test_stale_token_is_served_while_another_worker_refreshes(
        make_platform, standin: StandIn, clock: Clock, redis_clients) -> None:
    refresher, reader = (make_platform(redis=r) for r in redis_clients)
    old = refresher.access_token()
    clock.advance(7200 - 200)
    standin.fail("slow", times=1, delay_s=1.0)
    with ThreadPoolExecutor(1) as pool:
        refreshing = pool.submit(refresher.access_token)
        while standin.count("stable_token") < 2:  # the refresher is inside WeChat's call
            threading.Event().wait(0.01)
        assert reader.access_token() == old  # not waiting: the old token is still valid
        new = refreshing.result()
    assert new != old and reader.access_token() == new
    assert standin.count("stable_token") == 2


@pytest.mark.redis
@pytest.mark.slow
def test_two_processes_share_one_token(platform_settings, standin: StandIn,
                                       redis_url: str) -> None:
    script = ("from o2o.config import Settings; from o2o.services import connect_redis;"
              "from o2o.wechat.platform import build_platform;"
              "import os, sys; from concurrent.futures import ThreadPoolExecutor;"
              "p = build_platform(Settings(), redis=connect_redis(os.environ['O2O_REDIS_URL']));"
              "print(sorted(set(ThreadPoolExecutor(4).map(lambda _: p.access_token(), range(8)))))")
    env = {**os.environ, "O2O_REDIS_URL": redis_url,
           "O2O_WECHAT_API_BASE": platform_settings.wechat_api_base,
           "O2O_WECHAT_APPID": standin.appid, "O2O_WECHAT_SECRET": standin.secret}
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert outputs[0][0] == outputs[1][0] == f"['{_current(standin)}']\n"
    assert standin.count("stable_token") == 1


def test_threads_of_one_process_fetch_one_token(platform: WeChatPlatform,
                                                standin: StandIn) -> None:
    assert len(concurrently([platform.access_token] * 16)) == 1
    assert standin.count("stable_token") == 1


def test_a_token_replaced_elsewhere_costs_one_refresh_and_one_retry(
        platform: WeChatPlatform, standin: StandIn) -> None:
    old = platform.access_token()
    standin.replace_token()  # e.g. another system force-refreshed
    platform.create_menu(MENU)
    assert [c.api for c in standin.calls] == ["stable_token", "menu/create", "stable_token",
                                              "menu/create"]
    assert [c.errcode for c in standin.calls[1:]] == [40001, 0, 0]
    assert standin.count("stable_token", force_refresh=True) == 0  # normal mode sufficed
    assert platform.access_token() != old


def test_a_rejected_current_token_is_force_refreshed_once(platform: WeChatPlatform,
                                                          standin: StandIn) -> None:
    standin.revoke(platform.access_token())  # normal mode still hands it out
    platform.create_menu(MENU)
    assert [(c.api, c.body.get("force_refresh") if isinstance(c.body, dict) else None)
            for c in standin.calls] == [
        ("stable_token", False), ("menu/create", None), ("stable_token", False),
        ("stable_token", True), ("menu/create", None)]
    assert standin.menus == [MENU]


def test_a_token_rejected_again_is_an_error_not_a_loop(platform: WeChatPlatform,
                                                       standin: StandIn) -> None:
    standin.refuse_tokens = True
    with pytest.raises(TokenRejected) as caught:
        platform.create_menu(MENU)
    assert caught.value.errcode == 40001
    assert standin.count("menu/create") == 2
    assert standin.count("stable_token") == 3  # first fetch; normal, then force on rejection


@pytest.mark.redis
def test_concurrent_rejections_share_one_refresh(make_platform, standin: StandIn,
                                                 redis_clients) -> None:
    workers = [make_platform(redis=r) for r in redis_clients]
    workers[0].access_token()
    standin.revoke(_current(standin))
    calls = [lambda w=w: w.create_menu(MENU) or "ok" for w in workers for _ in range(4)]
    assert concurrently(calls) == {"ok"}
    assert standin.count("stable_token", force_refresh=True) == 1


def test_force_refresh_waits_30_s_between_and_stops_at_20_a_day(
        platform: WeChatPlatform, standin: StandIn, clock: Clock) -> None:
    clock.now = (clock.now // 86400 + 1) * 86400 + 4 * 3600  # noon in China: one day's quota
    for _ in range(20):
        standin.revoke(platform.access_token())
        platform.create_menu(MENU)
        clock.advance(10)
        standin.revoke(platform.access_token())
        with pytest.raises(QuotaExceeded, match="30 s between"):
            platform.create_menu(MENU)
        clock.advance(21)
    standin.revoke(platform.access_token())
    with pytest.raises(QuotaExceeded, match="20 already used today"):
        platform.create_menu(MENU)
    assert standin.count("stable_token", force_refresh=True) == 20
    error = platform.status()["last_error"]
    assert error["call"] == "stable_token" and "20 already used today" in error["errmsg"]


def test_the_standin_enforces_the_limits_too(platform: WeChatPlatform, standin: StandIn,
                                             clock: Clock) -> None:
    client = platform.client
    first = client.stable_token(force_refresh=True).value
    clock.advance(10)
    assert client.stable_token(force_refresh=True).value == first  # < 30 s: not refreshed
    for _ in range(19):
        clock.advance(30)
        client.stable_token(force_refresh=True)
    clock.advance(30)
    with pytest.raises(QuotaExceeded) as caught:
        client.stable_token(force_refresh=True)
    assert caught.value.errcode == 45009


@pytest.mark.redis
def test_tokens_keep_more_than_512_characters(make_platform, standin: StandIn,
                                              redis_clients) -> None:
    standin.token_length = 600
    token = make_platform(redis=redis_clients[0]).access_token()
    assert len(token) == 600
    assert make_platform(redis=redis_clients[1]).access_token() == token
    assert RedisStore(redis_clients[1]).get(f"o2o:wechat:{standin.appid}:access_token")[
        "value"] == token


def test_wechat_down_serves_the_valid_token_and_does_not_storm(
        platform: WeChatPlatform, standin: StandIn, clock: Clock) -> None:
    old = platform.access_token()
    clock.advance(7200 - 200)  # due for its refresh
    standin.fail("down")
    assert platform.access_token() == old  # the refresh failed; the old token is still valid
    assert standin.count("stable_token") == 1 + 3  # one refresh, with its two retries
    for _ in range(5):
        assert platform.access_token() == old
    assert standin.count("stable_token") == 4  # cooling down: no call per request
    clock.advance(11)
    standin.recover()
    assert platform.access_token() != old
    assert standin.count("stable_token") == 5


def test_without_a_valid_token_an_outage_fails_fast(platform: WeChatPlatform,
                                                    standin: StandIn) -> None:
    standin.fail("down")
    with pytest.raises(PlatformUnavailable, match="talking to WeChat"):
        platform.access_token()
    with pytest.raises(PlatformUnavailable, match=r"next try in \d+ s"):
        platform.jsapi_ticket()  # needs a token: refused at once, WeChat not called again
    assert standin.count("stable_token") == 3 and standin.count("ticket/getticket") == 0
