"""The stand-in keeps WeChat's rules: token renewal with a 5-minute overlap, token errcodes,
steering over HTTP, and `o2o simulate platform` serving it for a demo."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from o2o.wechat.platform.client import PlatformClient
from o2o.wechat.platform.errors import TokenRejected
from o2o.wechat.platform.standin import StandIn

from .conftest import SECRET, Clock


@pytest.fixture
def client(standin: StandIn, standin_url: str):  # type: ignore[no-untyped-def]
    c = PlatformClient(appid=standin.appid, secret=SECRET, base_url=standin_url, retries=0)
    yield c
    c.close()


def test_normal_mode_renews_5_minutes_before_expiry_keeping_both_valid(
        client: PlatformClient, clock: Clock) -> None:
    old = client.stable_token()
    assert old.expires_in == 7200
    clock.advance(3000)
    assert client.stable_token() == type(old)(old.value, 4200)  # same token, less time
    clock.advance(4200 - 299)
    new = client.stable_token()
    assert new.value != old.value and new.expires_in == 7200
    client.jsapi_ticket(old.value)  # both work during the overlap
    client.jsapi_ticket(new.value)
    clock.advance(300)
    with pytest.raises(TokenRejected) as expired:
        client.jsapi_ticket(old.value)
    assert expired.value.errcode == 42001
    with pytest.raises(TokenRejected) as unknown:
        client.jsapi_ticket("not-a-token")
    assert unknown.value.errcode == 40014


def test_force_refresh_invalidates_the_previous_token(client: PlatformClient) -> None:
    old = client.stable_token().value
    new = client.stable_token(force_refresh=True).value
    assert new != old
    with pytest.raises(TokenRejected) as caught:
        client.jsapi_ticket(old)
    assert caught.value.errcode == 40001


def test_steered_over_http(standin: StandIn, standin_url: str) -> None:
    with httpx.Client(base_url=standin_url) as http:
        code = http.post("/_standin/code", json={"openid": "o_1"}).json()["code"]
        assert http.post("/_standin/fail", json={"mode": "busy", "times": 1}).json() == {"ok": True}
        assert http.post("/cgi-bin/stable_token", json={}).json()["errcode"] == -1
        assert http.post("/_standin/fail", json={"mode": "sleepy"}).status_code == 400
        authorize = http.get("/connect/oauth2/authorize", params={
            "appid": standin.appid, "redirect_uri": "https://shop.example/h5?x=1",
            "response_type": "code", "scope": "snsapi_base", "state": "s1", "openid": "o_2"})
        calls = http.get("/_standin/calls").json()
    assert authorize.status_code == 302
    target = urlsplit(authorize.headers["location"])
    query = parse_qs(target.query)
    assert (target.netloc, query["x"], query["state"]) == ("shop.example", ["1"], ["s1"])
    assert standin.issue_code("o_3") != code != query["code"][0]
    assert [c["api"] for c in calls] == ["stable_token"] and calls[0]["errcode"] == -1


@pytest.mark.slow
def test_cli_serves_the_standin_for_a_demo(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "O2O_WECHAT_APPID": "wxdemo", "O2O_WECHAT_SECRET": "demo-secret"}
    command = [sys.executable, "-m", "o2o.cli", "simulate", "platform", "--port", str(port)]
    with subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True) as server:
        try:
            assert server.stdout is not None
            banner = server.stdout.readline() + server.stdout.readline()
            assert f"O2O_WECHAT_API_BASE=http://127.0.0.1:{port}" in banner
            menu = subprocess.run([sys.executable, "-m", "o2o.cli", "wechat", "menu", "--create"],
                                  env={**env, "O2O_WECHAT_API_BASE": f"http://127.0.0.1:{port}"},
                                  cwd=tmp_path, capture_output=True, text=True, timeout=60)
            assert menu.returncode == 0, menu.stderr
            assert menu.stdout.rstrip().endswith("menu created")
            calls = httpx.get(f"http://127.0.0.1:{port}/_standin/calls").json()
            assert [c["api"] for c in calls] == ["stable_token", "menu/create"]
        finally:  # also when an assertion fails: never wait for it forever
            server.terminate()
