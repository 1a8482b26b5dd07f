"""`o2o simulate ...` and `o2o wechat menu` through argparse, against an in-memory server."""

from __future__ import annotations

import argparse
import json
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from o2o.config import Settings
from o2o.errors import ConfigError, O2OError
from o2o.wechat import cli, simulator
from o2o.wechat.crypto import MessageCrypto
from o2o.wechat.parsing import Message, parse_message
from o2o.wechat.registry import Registry
from o2o.wechat.replies import TextReply
from o2o.wechat.security import unwrap_request, wrap_reply

from .vectors import AES_KEY, APPID, TOKEN

SETTINGS = SimpleNamespace(wechat_token=TOKEN, wechat_aes_key=AES_KEY, wechat_appid=APPID,
                           wechat_secret="s")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="o2o")
    cli.register(p.add_subparsers(dest="command", required=True))
    return p


@pytest.fixture
def sent() -> list[httpx.Request]:
    """The HTTP requests the simulator made (filled by `seen`)."""
    return []


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch, sent: list[httpx.Request]) -> list[Message]:
    """Route the simulator's HTTP to an echoing endpoint built from this package."""
    received: list[Message] = []
    crypto = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid=APPID)
    registry: Registry[None] = Registry()

    @registry.fallback
    def echo(message: Message, ctx: None) -> TextReply:
        received.append(message)
        return TextReply(f"got {message.event or message.msg_type}")

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        unwrapped = unwrap_request(request.content, dict(request.url.params), token=TOKEN,
                                   crypto=crypto)
        xml = registry.respond(parse_message(unwrapped.xml), None)
        return httpx.Response(200, text=wrap_reply(xml, unwrapped.encrypted, crypto=crypto))

    real_send = simulator.send

    def send(xml: str, **kw: Any) -> simulator.DecodedReply:
        with httpx.Client(transport=httpx.MockTransport(handle)) as client:
            return real_send(xml, client=client, **kw)

    monkeypatch.setattr(cli.simulator, "send", send)
    monkeypatch.setattr(cli, "_settings", lambda: SETTINGS)
    return received


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


def test_simulate_location(seen: list[Message], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["simulate", "location", "31.2304", "121.4737", "人民广场", "--openid", "o_me"]) == 0
    assert capsys.readouterr().out.strip() == "got location"
    assert (seen[0].latitude, seen[0].longitude, seen[0].label, seen[0].from_user) == (
        31.2304, 121.4737, "人民广场", "o_me")


@pytest.mark.parametrize(("flag", "encrypt_type", "clear_copy"), [
    ([], "aes", False), (["--encrypt"], "aes", False), (["--compat"], "aes", True),
    (["--plain"], None, True)])
def test_simulate_encrypts_unless_told_otherwise(seen: list[Message], sent: list[httpx.Request],
                                                 flag: list[str], encrypt_type: str | None,
                                                 clear_copy: bool) -> None:
    """With a key configured the push goes 安全模式, as a server with a key requires."""
    assert run(["simulate", "text", "你好", "--openid", "o_me", *flag]) == 0
    (request,) = sent
    assert request.url.params.get("encrypt_type") == encrypt_type
    assert ("<Content>" in request.content.decode()) is clear_copy
    assert request.url.params["openid"] == seen[0].from_user == "o_me"


def test_simulate_encrypt_without_a_key(seen: list[Message], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_settings", lambda: SimpleNamespace(
        wechat_token=TOKEN, wechat_aes_key="", wechat_appid=APPID))
    with pytest.raises(ConfigError):
        run(["simulate", "text", "x", "--encrypt"])
    assert run(["simulate", "text", "x"]) == 0  # no key: plain, like WeChat's 明文模式
    assert seen[0].content == "x"


def test_simulate_text_encrypted_as_json(seen: list[Message], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["simulate", "text", "第二杯半价?", "--encrypt", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"kind": "text", "text": "got text", "articles": []}
    assert seen[0].content == "第二杯半价?"


@pytest.mark.parametrize(("argv", "event", "key"), [
    (["subscribe"], "subscribe", None),
    (["click", "OFFERS"], "click", "OFFERS"),
    (["location_select", "22.54", "114.06"], "location_select", "NEARBY_SELECT"),
])
def test_simulate_events(seen: list[Message], argv: list[str], event: str, key: str | None) -> None:
    assert run(["simulate", "event", *argv]) == 0
    assert (seen[0].event, seen[0].event_key) == (event, key)


def test_simulate_location_event_is_answered_with_success(
        seen: list[Message], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["simulate", "event", "LOCATION", "22.54", "114.06"]) == 0
    assert "success" in capsys.readouterr().out
    assert (seen[0].event, seen[0].latitude) == ("location", 22.54)


def test_simulate_event_with_missing_arguments(seen: list[Message]) -> None:
    with pytest.raises(O2OError):
        run(["simulate", "event", "click"])
    with pytest.raises(O2OError):
        run(["simulate", "event", "location_select", "north"])


def test_simulate_converts_wgs84_to_gcj02(seen: list[Message]) -> None:
    pytest.importorskip("o2o.geo.datum")
    assert run(["simulate", "location", "31.2304", "121.4737", "--crs", "wgs84"]) == 0
    # GCJ-02 in Shanghai is shifted roughly 0.002° north-east... never zero, never huge.
    dlat, dlng = seen[0].latitude - 31.2304, seen[0].longitude - 121.4737
    assert 0.0005 < abs(dlat) + abs(dlng) < 0.02


@pytest.fixture
def app_server(client, services, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Route the simulator to the real app on the suite's settings (TestClient is httpx)."""
    from tests.factories import make_outlet

    with services.sessions.begin() as s:
        make_outlet(s, lat=31.2310, lng=121.4740, name="人民广场店")
    services.catalog.load()
    real_send = simulator.send

    def send(xml: str, **kw: Any) -> simulator.DecodedReply:
        return real_send(xml, **{**kw, "client": client, "url": "http://testserver/wechat"})

    monkeypatch.setattr(cli.simulator, "send", send)
    monkeypatch.setattr(cli, "_settings", lambda: services.settings)


def test_the_readme_commands_against_the_app(app_server, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["simulate", "location", "31.2304", "121.4737"]) == 0
    assert "人民广场店" in capsys.readouterr().out
    assert run(["simulate", "location", "31.2304", "121.4737", "--encrypt"]) == 0
    assert run(["simulate", "text", "优惠", "--compat"]) == 0
    assert run(["simulate", "event", "subscribe"]) == 0
    assert "位置" in capsys.readouterr().out
    with pytest.raises(simulator.SimulatorError) as refused:  # the server has a key
        run(["simulate", "text", "优惠", "--plain"])
    assert "403" in refused.value.message and "wechat_plaintext_refused" in refused.value.message


def test_menu_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["wechat", "menu"]) == 0
    assert json.loads(capsys.readouterr().out) == simulator.menu_json()


def test_menu_create_refuses_development_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_settings", lambda: Settings(
        wechat_appid="wxo2odevelopment", wechat_secret="x"))
    with pytest.raises(ConfigError):
        run(["wechat", "menu", "--create"])


def test_add_arguments_is_register() -> None:
    assert cli.add_arguments is cli.register


@pytest.mark.parametrize(("argv", "group", "status"), [
    (["subscribe_msg_popup", "T1", "accept"], "SubscribeMsgPopupEvent", "accept"),
    (["subscribe_msg_popup_event", "T1", "reject"], "SubscribeMsgPopupEvent", "reject"),
    (["subscribe_msg_change", "T1"], "SubscribeMsgChangeEvent", "reject"),
])
def test_simulate_subscribe_events(seen: list[Message], argv: list[str], group: str,
                                   status: str) -> None:
    assert run(["simulate", "event", *argv]) == 0
    entry = seen[0].raw[group]["List"]
    assert (seen[0].event, entry["TemplateId"], entry["SubscribeStatusString"]) == \
        (argv[0].removesuffix("_event") + "_event", "T1", status)


def test_simulate_subscribe_sent_and_bad_arguments(seen: list[Message]) -> None:
    assert run(["simulate", "event", "subscribe_msg_sent", "T1", "77", "failed:43101"]) == 0
    entry = seen[0].raw["SubscribeMsgSentEvent"]["List"]
    assert (entry["MsgID"], entry["ErrorCode"], entry["ErrorStatus"]) == ("77", "43101", "failed")
    for argv in (["subscribe_msg_popup"], ["subscribe_msg_popup", "T1", "maybe"],
                 ["subscribe_msg_sent", "T1", "not-a-number"]):
        with pytest.raises(O2OError):
            run(["simulate", "event", *argv])
    assert len(seen) == 1  # nothing sent for a bad command
