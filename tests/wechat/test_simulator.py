"""The simulator: builders, signed/encrypted requests, reply decoding, a full round trip."""

from __future__ import annotations

import json

import httpx
import pytest

from o2o.wechat.crypto import MessageCrypto
from o2o.wechat.parsing import parse_message, parse_xml_fields
from o2o.wechat.registry import Registry
from o2o.wechat.replies import Article, NewsReply, TextReply, render, utf8_len
from o2o.wechat.security import unwrap_request, wrap_reply
from o2o.wechat.signing import signature_of
from o2o.wechat.simulator import (
    SimulatorError,
    build_request,
    decode_reply,
    event_xml,
    location_xml,
    menu_json,
    message_xml,
    send,
)

from .vectors import AES_KEY, APPID, NOW, TOKEN

CRYPTO = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid=APPID)


def test_location_builder_puts_latitude_in_location_x() -> None:
    fields = parse_xml_fields(location_xml(31.2304, 121.4737, "人民广场", create_time=NOW, msg_id=3))
    assert (fields["Location_X"], fields["Location_Y"]) == ("31.230400", "121.473700")
    assert (fields["MsgType"], fields["CreateTime"], fields["MsgId"]) == ("location", str(NOW), "3")
    assert (fields["ToUserName"], fields["FromUserName"]) == ("gh_o2o_simulator", "o_simulated_customer")


def test_events_have_no_msg_id_and_messages_get_a_random_one() -> None:
    assert "MsgId" not in parse_xml_fields(event_xml("subscribe"))
    a, b = (parse_message(message_xml("text", "x")).msg_id for _ in range(2))
    assert a != b and a is not None and a > 0


@pytest.mark.parametrize(("args", "event", "key"), [
    (("subscribe",), "subscribe", None),
    (("subscribe", "qrscene_7"), "subscribe", "qrscene_7"),
    (("unsubscribe",), "unsubscribe", None),
    (("click", "NEARBY"), "click", "NEARBY"),
    (("CLICK", "OFFERS"), "click", "OFFERS"),
    (("location_select", 22.54, 114.06), "location_select", "NEARBY_SELECT"),
    (("LOCATION", 22.54, 114.06, 30), "location", None),
])
def test_event_builders(args: tuple[object, ...], event: str, key: str | None) -> None:
    m = parse_message(message_xml("event", *args))
    assert (m.msg_type, m.event, m.event_key) == ("event", event, key)
    if event in ("location_select", "location"):
        assert (m.latitude, m.longitude) == (22.54, 114.06)


def test_builder_mistakes_are_loud() -> None:
    with pytest.raises(ValueError):
        message_xml("image")
    with pytest.raises(ValueError):
        message_xml("event", "teleport")
    with pytest.raises(TypeError):
        message_xml("text", "x", form_user="typo")


def test_plain_request_is_signed_like_wechat() -> None:
    query, body = build_request("<xml/>", token=TOKEN, timestamp=NOW, nonce="42")
    assert query == {"signature": signature_of(TOKEN, str(NOW), "42"), "timestamp": str(NOW),
                     "nonce": "42", "openid": "o_simulated_customer"}
    assert body == b"<xml/>"


def test_the_url_names_the_sender_like_wechat() -> None:
    xml = message_xml("text", "x", from_user="o_alice")
    assert build_request(xml, token=TOKEN)[0]["openid"] == "o_alice"
    assert build_request(xml, token=TOKEN, aes_key=AES_KEY, appid=APPID)[0]["openid"] == "o_alice"
    assert build_request(xml, token=TOKEN, openid="o_bob")[0]["openid"] == "o_bob"  # tests lie


def test_encrypted_request_needs_appid() -> None:
    with pytest.raises(ValueError):
        build_request("<xml/>", token=TOKEN, aes_key=AES_KEY)


def test_decode_text_news_and_success() -> None:
    text = render(TextReply("最近的门店 ]]> 在这里"), to_user="o", from_user="gh", create_time=1)
    assert decode_reply(text, token=TOKEN).text == "最近的门店 ]]> 在这里"
    news = render(NewsReply([Article("A店", "第一行\n第二行", url="https://h5/a"), Article("B店")]),
                  to_user="o", from_user="gh", create_time=1)
    decoded = decode_reply(news, token=TOKEN)
    assert decoded.kind == "news"
    assert [a["title"] for a in decoded.articles] == ["A店", "B店"]
    assert str(decoded) == "[1] A店\n    第一行\n    第二行\n    -> https://h5/a\n[2] B店"
    assert decode_reply(b"success", token=TOKEN).kind == "success"
    assert decode_reply("", token=TOKEN).kind == "empty"


def test_decode_encrypted_reply_checks_signature_and_mode() -> None:
    reply = render(TextReply("hi"), to_user="o", from_user="gh", create_time=1)
    wrapped = wrap_reply(reply, True, crypto=CRYPTO, timestamp=NOW, nonce="5")
    assert decode_reply(wrapped, token=TOKEN, aes_key=AES_KEY, appid=APPID, encrypted=True).text == "hi"
    with pytest.raises(SimulatorError):
        decode_reply(wrapped.replace(signature_of(TOKEN, str(NOW), "5",
                                                  parse_xml_fields(wrapped)["Encrypt"]), "0" * 40),
                     token=TOKEN, aes_key=AES_KEY, appid=APPID, encrypted=True)
    with pytest.raises(SimulatorError):  # plaintext answer to an encrypted push
        decode_reply(reply, token=TOKEN, aes_key=AES_KEY, appid=APPID, encrypted=True)


def test_decode_catches_a_lying_article_count() -> None:
    news = render(NewsReply([Article("A")]), to_user="o", from_user="gh", create_time=1)
    with pytest.raises(SimulatorError):
        decode_reply(news.replace("<ArticleCount>1<", "<ArticleCount>2<"), token=TOKEN)


def fake_server(registry: Registry[None]) -> httpx.MockTransport:
    """A WeChat endpoint made of this package alone, behind httpx's in-memory transport."""
    def handle(request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        unwrapped = unwrap_request(request.content, query, token=TOKEN, crypto=CRYPTO)
        xml = registry.respond(parse_message(unwrapped.xml), None)
        return httpx.Response(200, text=wrap_reply(xml, unwrapped.encrypted, crypto=CRYPTO))
    return httpx.MockTransport(handle)


@pytest.mark.parametrize("encrypt", [False, True])
def test_send_round_trip(encrypt: bool) -> None:
    registry: Registry[None] = Registry()

    @registry.on("location")
    def nearest(message, ctx):  # type: ignore[no-untyped-def]
        return NewsReply([Article(f"离您最近 {message.latitude},{message.longitude}",
                                  url="https://h5/list")] * 3)

    with httpx.Client(transport=fake_server(registry)) as client:
        reply = send(location_xml(31.23, 121.47), token=TOKEN, client=client,
                     aes_key=AES_KEY if encrypt else None, appid=APPID)
    assert reply.kind == "news"
    assert [a["title"] for a in reply.articles] == ["离您最近 31.23,121.47"]  # one card: a user message


def test_send_reports_http_errors() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(403, text="bad signature"))
    with httpx.Client(transport=transport) as client, pytest.raises(SimulatorError) as caught:
        send(message_xml("text", "x"), token=TOKEN, client=client)
    assert "403" in caught.value.message


def test_send_reports_unreachable_servers() -> None:
    with pytest.raises(SimulatorError):
        send(message_xml("text", "x"), url="http://127.0.0.1:9/wechat", token=TOKEN, timeout=1)


def test_menu() -> None:
    menu = menu_json()
    buttons = menu["button"]
    assert buttons[0] == {"type": "location_select", "name": "附近门店", "key": "NEARBY_SELECT"}
    assert {(b["type"], b["key"]) for b in buttons} == {
        ("location_select", "NEARBY_SELECT"), ("click", "NEARBY"), ("click", "OFFERS")}
    assert any(b["name"] == "优惠活动" and b["key"] == "OFFERS" for b in buttons)
    # WeChat's limits: at most 3 top-level buttons, names <= 16 bytes, keys <= 128 bytes.
    assert len(buttons) <= 3
    assert all(utf8_len(b["name"]) <= 16 and utf8_len(b["key"]) <= 128 for b in buttons)
    json.dumps(menu, ensure_ascii=False)
